"""Writes the report mails the stsctl unit tests read (report_mail_test.cpp). Run it
again after changing tlsrpt_mail.py; the output is deterministic (gzip mtime 0)."""
import os

import tlsrpt_mail as m

HERE = os.path.dirname(os.path.abspath(__file__))
POLICY = ["version: STSv1", "mode: enforce", "mx: mx1.example.com", "mx: *.mail.example.com", "max_age: 604800"]


def write(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


def main():
    google = m.report("Google Inc.", "2026-11-29T00:00:00Z_example.com", "example.com",
                      "2026-11-29T00:00:00Z", "2026-11-29T23:59:59Z", POLICY, 1200, 3,
                      contact="smtp-tls-reporting@google.com")
    microsoft = m.report("Microsoft Corporation", "133456789012345678+example.com", "example.com",
                         "2026-11-29T00:00:00Z", "2026-11-29T23:59:59Z", POLICY, 800, 5,
                         result_type="sts-policy-fetch-error", contact="tlsrpt-noreply@microsoft.com")
    google_gz, microsoft_gz = m.gzipped(google), m.gzipped(microsoft)
    write("google.json.gz", google_gz)
    write("google.eml", m.google_like("example.com", google_gz))
    write("microsoft.json.gz", microsoft_gz)
    write("microsoft.eml", m.microsoft_like("example.com", microsoft_gz))
    write("json.eml", m.json_report_mail("example.com", google))
    # The same Google mail with the generic type some reporters use instead.
    generic = m.google_like("example.com", google_gz).replace(b"application/tlsrpt+gzip", b"application/octet-stream")
    write("generic-type.eml", generic)
    # A report forwarded as an attachment (message/rfc822), as a postmaster may pass it on.
    forwarded = (b"From: postmaster@provider.test\r\nTo: tls-reports@provider.test\r\nSubject: Fwd: TLS report\r\n"
                 b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"fwd\"\r\n\r\n"
                 b"--fwd\r\nContent-Type: text/plain\r\n\r\nSee the attached report.\r\n"
                 b"--fwd\r\nContent-Type: message/rfc822\r\n\r\n" + m.google_like("example.com", google_gz) +
                 b"\r\n--fwd--\r\n")
    write("forwarded.eml", forwarded)
    # Broken ones.
    whole = m.google_like("example.com", google_gz)
    write("truncated.eml", whole[:whole.index(b"H4sI") + 40])
    write("no-report.eml", b"From: someone@example.net\r\nTo: tls-reports@provider.test\r\nSubject: hello\r\n"
                           b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
                           b"--b\r\nContent-Type: text/plain\r\n\r\nNo report here.\r\n"
                           b"--b\r\nContent-Type: application/pdf; name=\"invoice.pdf\"\r\n"
                           b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n")
    write("plain.eml", b"From: someone@example.net\r\nTo: tls-reports@provider.test\r\nSubject: hi\r\n\r\nJust text.\r\n")
    write("wrong-encoding.eml", whole.replace(b"Content-Transfer-Encoding: base64", b"Content-Transfer-Encoding: 7bit"))


if __name__ == "__main__":
    main()
