"""TLS-RPT report mails in the shapes the large reporters send (RFC 8460 §5.3), for the
stsctl tests: the unit test fixtures beside this file (make_fixtures.py) and the
end-to-end test by mail build their messages here.

The shapes follow what Google and Microsoft send: multipart/report; report-type=tlsrpt,
a human-readable first part (Microsoft's is multipart/alternative), and the report as a
base64 application/tlsrpt+gzip attachment named sender!policy-domain!begin!end!id.json.gz.
"""
import base64
import gzip
import json


def report(organization, report_id, domain, start, end, policy_lines, successful, failed,
           result_type="validation-failure", contact="smtp-tls-reporting@reporter.test"):
    """An RFC 8460 §4 report (a dict) for one sts policy."""
    policy = {
        "policy": {"policy-type": "sts", "policy-string": policy_lines, "policy-domain": domain,
                   "mx-host": [line[4:] for line in policy_lines if line.startswith("mx: ")]},
        "summary": {"total-successful-session-count": successful, "total-failure-session-count": failed},
    }
    if failed:
        policy["failure-details"] = [{"result-type": result_type, "sending-mta-ip": "192.0.2.25",
                                      "receiving-mx-hostname": policy["policy"]["mx-host"][0],
                                      "failed-session-count": failed}]
    return {"organization-name": organization,
            "date-range": {"start-datetime": start, "end-datetime": end},
            "contact-info": contact, "report-id": report_id, "policies": [policy]}


def gzipped(document):
    return gzip.compress(json.dumps(document, indent=1).encode(), mtime=0)


def _base64_lines(data):
    text = base64.b64encode(data).decode()
    return "\r\n".join(text[i:i + 76] for i in range(0, len(text), 76))


def _attachment_name(submitter, domain, begin, end, unique, extension):
    return f"{submitter}!{domain}!{begin}!{end}!{unique}.{extension}"


def google_like(domain, gz, begin=1764374400, end=1764460799, to="tls-reports@provider.test"):
    """Google's shape: text/plain, then the gzip attachment (bytes of the whole message)."""
    boundary = "000000000000c1f0a905e4f2b7d3"
    name = _attachment_name("google.com", domain, begin, end, "001", "json.gz")
    lines = [
        "Return-Path: <noreply-smtp-tls-reporting@google.com>",
        "Received: by mail-sor-f69.google.com with SMTP id 2adb3069b0e04-5a1b2c3d4e5f",
        "MIME-Version: 1.0",
        "From: noreply-smtp-tls-reporting@google.com",
        f"To: {to}",
        f"Subject: Report Domain: {domain} Submitter: google.com Report-ID: <2026.11.29T00.00.00Z+{domain}@google.com>",
        f"TLS-Report-Domain: {domain}",
        "TLS-Report-Submitter: google.com",
        "Date: Sun, 30 Nov 2026 06:59:59 -0800",
        "Message-ID: <000000000000c1f0a905e4f2b7d3@google.com>",
        f'Content-Type: multipart/report; boundary="{boundary}"; report-type=tlsrpt',
        "",
        f"--{boundary}",
        'Content-Type: text/plain; charset="UTF-8"; format=flowed; delsp=yes',
        "",
        f"This is an aggregate TLS report from google.com",
        "",
        f"--{boundary}",
        f'Content-Type: application/tlsrpt+gzip; name="{name}"',
        f'Content-Disposition: attachment; filename="{name}"',
        "Content-Transfer-Encoding: base64",
        "",
        _base64_lines(gz),
        f"--{boundary}--",
        "",
    ]
    return "\r\n".join(lines).encode()


def microsoft_like(domain, gz, begin=1764374400, end=1764460799, to="tls-reports@provider.test"):
    """Microsoft's shape: multipart/alternative (text and HTML), then the gzip attachment
    with a Content-Description and size/creation-date disposition parameters."""
    outer = "_004_TLSRPT133456789012345678protectionoutlookcom_"
    inner = "_000_TLSRPT133456789012345678protectionoutlookcom_"
    name = _attachment_name("microsoft.com", domain, begin, end, "133456789012345678", "json.gz")
    lines = [
        "From: TLSRPT Reporting <tlsrpt-noreply@microsoft.com>",
        f"To: {to}",
        f"Subject: Report Domain: {domain} Submitter: microsoft.com Report-ID: <133456789012345678+{domain}@microsoft.com>",
        "Thread-Topic: TLS-RPT",
        "Date: Mon, 30 Nov 2026 10:32:11 +0000",
        "Message-ID: <TLSRPT133456789012345678@microsoft.com>",
        "Accept-Language: en-US",
        "Content-Language: en-US",
        "X-MS-Has-Attach: yes",
        f"TLS-Report-Domain: {domain}",
        "TLS-Report-Submitter: microsoft.com",
        f'Content-Type: multipart/report; boundary="{outer}"; report-type="tlsrpt"',
        "MIME-Version: 1.0",
        "",
        f"--{outer}",
        f'Content-Type: multipart/alternative; boundary="{inner}"',
        "",
        f"--{inner}",
        'Content-Type: text/plain; charset="us-ascii"',
        "Content-Transfer-Encoding: quoted-printable",
        "",
        "This is a TLS report from Microsoft. Please see the attachment.",
        "",
        f"--{inner}",
        'Content-Type: text/html; charset="us-ascii"',
        "Content-Transfer-Encoding: quoted-printable",
        "",
        "<html><body>This is a TLS report from Microsoft. Please see the attachment.</body></html>",
        "",
        f"--{inner}--",
        "",
        f"--{outer}",
        f'Content-Type: application/tlsrpt+gzip; name="{name}"',
        f'Content-Description: {name}',
        f'Content-Disposition: attachment; filename="{name}"; size={len(gz)};',
        '\tcreation-date="Mon, 30 Nov 2026 10:32:11 GMT";',
        '\tmodification-date="Mon, 30 Nov 2026 10:32:11 GMT"',
        "Content-Transfer-Encoding: base64",
        "",
        _base64_lines(gz),
        "",
        f"--{outer}--",
        "",
    ]
    return "\r\n".join(lines).encode()


def json_report_mail(domain, document, to="tls-reports@provider.test"):
    """A smaller reporter's shape: the report uncompressed, application/tlsrpt+json, 7bit."""
    boundary = "tlsrpt-json-boundary"
    lines = [
        "From: tlsrpt@mail.example.net",
        f"To: {to}",
        f"Subject: Report Domain: {domain} Submitter: mail.example.net Report-ID: <json-1@mail.example.net>",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/report; boundary="{boundary}"; report-type="tlsrpt"',
        "",
        f"--{boundary}",
        "Content-Type: text/plain",
        "",
        "TLS report attached.",
        f"--{boundary}",
        'Content-Type: application/tlsrpt+json; name="mail.example.net!example.com!1764374400!1764460799.json"',
        "Content-Transfer-Encoding: 7bit",
        "",
        json.dumps(document, indent=1).replace("\n", "\r\n"),
        f"--{boundary}--",
        "",
    ]
    return "\r\n".join(lines).encode()
