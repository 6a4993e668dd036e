// The status page's HTML: every value escaped (text, attributes, links), sections of any
// shape rendered, and the list's paging and search links carrying their cursor.
#include <gtest/gtest.h>

#include <string>

#include "status/html.h"
#include "status/pages.h"
#include "status/status_page.h"

namespace stsd::admin::status {
namespace {

using nlohmann::json;

constexpr const char* kHostile = "<script>alert(\"x\")</script>&'";

TEST(HtmlEscape, EscapesEveryMarkupCharacter) {
  struct Case {
    std::string in, out;
  };
  for (const auto& c : std::vector<Case>{
           {"example.com", "example.com"},
           {"a<b", "a&lt;b"},
           {"a>b", "a&gt;b"},
           {"a&b", "a&amp;b"},
           {"\"quoted\"", "&quot;quoted&quot;"},
           {"it's", "it&#39;s"},
           {kHostile, "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"},
           {"", ""},
       }) {
    EXPECT_EQ(html_escape(c.in), c.out) << c.in;
  }
}

TEST(UrlComponent, KeepsOnlyUnreservedCharacters) {
  EXPECT_EQ(url_component("mx1.example-1.com_~"), "mx1.example-1.com_~");
  EXPECT_EQ(url_component("a b&c=d/é\"<"), "a%20b%26c%3Dd%2F%C3%A9%22%3C");
}

TEST(AppendJson, RendersAnyShapeEscaped) {
  const json section = {
      {"words", kHostile},
      {kHostile, 1},
      {"vantages", {{{"vantage", "127.0.0.11:443"}, {"error", kHostile}, {"certificate_not_after", 1767225600}}}},
      {"list", {"a<b", 2, nullptr}},
      {"deep", {{"a", {{"b", {{"c", {{"d", "<deeper>"}}}}}}}}},
      {"ok", true},
  };
  std::string out;
  append_json(out, section);
  EXPECT_EQ(out.find("<script"), std::string::npos) << out;
  EXPECT_EQ(out.find("<deeper>"), std::string::npos) << out;
  EXPECT_NE(out.find("&lt;script&gt;"), std::string::npos);
  EXPECT_NE(out.find("<th>certificate_not_after</th>"), std::string::npos) << out;
  EXPECT_NE(out.find("<time>2026-01-01T00:00:00Z</time>"), std::string::npos) << out;  // a time field
  EXPECT_NE(out.find("<dd>yes</dd>"), std::string::npos) << out;
}

TEST(TimeFields, AreKnownByTheirNames) {
  for (const char* key : {"last_round_at", "certificate_not_after", "rotate_until", "held_since", "not_after"})
    EXPECT_TRUE(is_time_field(key)) << key;
  for (const char* key : {"version", "streak", "elapsed_ms", "at_least"}) EXPECT_FALSE(is_time_field(key)) << key;
}

ListView sample_list() {
  ListView view;
  view.query = "\"><script>x</script>";
  view.total_domains = 3;
  view.now = 1764511200;
  DomainRow held;
  held.domain = "held.example";
  held.staged = 2;
  held.confirmed = 1;
  held.pending = true;
  held.drift_hold = "edge 127.0.0.12:443 serves <mx9.attacker.test>";
  held.served_id = "20251130v1d0123";
  DomainRow fine;
  fine.domain = "fine.example";
  fine.staged = 1;
  fine.confirmed = 1;
  fine.served_id = "20251130v1dabcd";
  fine.next_rotation = 1764547200;
  view.rows = {held, fine};
  view.next_after = "fine.example";
  view.after = "a&b";
  return view;
}

TEST(ListPage, EscapesTheSearchAndCarriesTheCursor) {
  const std::string out = render_list_page(sample_list());
  EXPECT_EQ(out.find("<script"), std::string::npos) << out;
  EXPECT_NE(out.find("value=\"&quot;&gt;&lt;script&gt;x&lt;/script&gt;\""), std::string::npos) << out;
  // The link's query is percent-encoded, then escaped for the attribute.
  EXPECT_NE(out.find("href=\"/?q=%22%3E%3Cscript%3Ex%3C%2Fscript%3E&amp;after=fine.example\" id=\"next\""),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("id=\"first\""), std::string::npos);
  EXPECT_NE(out.find("<a href=\"/domains/held.example\">held.example</a>"), std::string::npos);
  EXPECT_NE(out.find("class=\"badge drift-hold\">drift hold</span>"), std::string::npos) << out;
  EXPECT_NE(out.find("&lt;mx9.attacker.test&gt;"), std::string::npos);
  EXPECT_NE(out.find("class=\"badge pending\""), std::string::npos);
  EXPECT_NE(out.find("class=\"badge ok\""), std::string::npos);
  EXPECT_NE(out.find("2025-12-01T00:00:00Z"), std::string::npos) << out;  // next rotation
}

TEST(ListPage, FirstAndLastPagesHaveOnlyTheirLinks) {
  ListView view = sample_list();
  view.after.clear();
  view.next_after.reset();
  const std::string out = render_list_page(view);
  EXPECT_EQ(out.find("id=\"first\""), std::string::npos);
  EXPECT_EQ(out.find("id=\"next\""), std::string::npos);
}

TEST(ListPage, SaysWhenNothingMatches) {
  ListView view;
  view.query = "nothing<";
  const std::string out = render_list_page(view);
  EXPECT_NE(out.find("id=\"no-match\">No domain contains “nothing&lt;”."), std::string::npos) << out;
}

TEST(ListPage, SaysHowFarASearchLooked) {
  ListView view;
  view.query = "rare";
  view.scan_budget_spent = true;
  view.scanned = 50000;
  view.next_after = "m.example";
  const std::string out = render_list_page(view);
  EXPECT_NE(out.find("id=\"no-match\">No domain contains “rare” among the 50000 names looked at so far."),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("This search looked through 50000 names, up to m.example"), std::string::npos) << out;
  EXPECT_NE(out.find("after=m.example\" id=\"next\""), std::string::npos) << out;
}

json sample_status() {
  return {
      {"domain", "held.example"},
      {"created_at", "2025-11-01T00:00:00Z"},
      {"now", "2025-11-30T14:00:00Z"},
      {"settings", {{"tlsrpt_rua", json::array()}, {"vantages", {"127.0.0.11:443"}}}},
      {"staged",
       {{"version", 2}, {"mode", "enforce"}, {"mx", {"mx1.held.example", "<b>"}}, {"max_age", 86400},
        {"created_at", "2025-11-30T10:00:00Z"}, {"digest", "abc"}}},
      {"confirmed",
       {{"version", 1}, {"mode", "testing"}, {"mx", {"mx1.held.example"}}, {"max_age", 86400},
        {"created_at", "2025-11-01T00:00:00Z"}, {"digest", "def"}}},
      {"pending", true},
      {"confirmation", {{"version", 1}, {"at", "2025-11-01T00:10:00Z"}, {"manual", false}, {"reason", "seen"}}},
      {"hold", {{"reason", "edge 127.0.0.12:443 serves <i>another</i> policy"}, {"since", "2025-11-30T12:00:00Z"}}},
      {"served_id", "20251130v1ddef"},
      {"txt", "v=STSv1; id=20251130v1ddef;"},
      {"next_rotation", nullptr},
      {"rotation_offset_seconds", 3600},
      {"rotate_until", nullptr},
      {"rotation_held", false},
      {"retirement", nullptr},
      {"events", {{{"seq", 3}, {"at", "2025-11-30T12:00:00Z"}, {"kind", "hold"}, {"version", 1},
                   {"detail", "<drift>"}}}},
      {"extensions",
       {{"confirm", {{"lines", {"held <now>"}}, {"vantages", {{{"vantage", "127.0.0.12:443"}, {"words", "x"}}}}}},
        {"tlsrpt", {{"lines", {"3 failed sessions from <reporter>"}}, {"failures", {{"sts-policy-invalid", 3}}}}}}},
  };
}

TEST(DomainPage, ShowsTheHoldVersionsAndEverySection) {
  const std::string out = render_domain_page(sample_status());
  EXPECT_EQ(out.find("<i>"), std::string::npos) << out;
  EXPECT_EQ(out.find("<b>"), std::string::npos) << out;
  EXPECT_NE(out.find("<div class=\"alert\" id=\"drift-hold\"><strong>Drift hold</strong> since 2025-11-30T12:00:00Z"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("&lt;i&gt;another&lt;/i&gt;"), std::string::npos);
  EXPECT_NE(out.find("mx1.held.example, &lt;b&gt;"), std::string::npos) << out;
  EXPECT_NE(out.find("v=STSv1; id=20251130v1ddef;"), std::string::npos);
  EXPECT_NE(out.find("<section id=\"section-confirm\"><h2>confirm</h2>"), std::string::npos) << out;
  EXPECT_NE(out.find("<section id=\"section-tlsrpt\"><h2>tlsrpt</h2>"), std::string::npos) << out;
  EXPECT_NE(out.find("<li>3 failed sessions from &lt;reporter&gt;</li>"), std::string::npos) << out;
  EXPECT_NE(out.find("sts-policy-invalid"), std::string::npos);
  EXPECT_NE(out.find("&lt;drift&gt;"), std::string::npos);  // events
  EXPECT_NE(out.find("The staged version waits for confirmation"), std::string::npos);
}

TEST(DomainPage, WithoutAHoldShowsNoAlert) {
  json status = sample_status();
  status["hold"] = nullptr;
  status["extensions"] = json::object();
  const std::string out = render_domain_page(status);
  EXPECT_EQ(out.find("drift-hold"), std::string::npos);
  EXPECT_EQ(out.find("<section"), std::string::npos);
}

TEST(Pages, CarryNoScript) {
  for (const std::string& out : {render_list_page(sample_list()), render_domain_page(sample_status()),
                                 render_error_page(404, kHostile)}) {
    EXPECT_EQ(out.find("<script"), std::string::npos);
    EXPECT_EQ(out.find("style="), std::string::npos);  // the CSP forbids inline style
    EXPECT_EQ(out.rfind("<!DOCTYPE html>", 0), 0u);
  }
}

TEST(NormalizeSearch, LowersAndTrims) {
  struct Case {
    std::string in;
    std::optional<std::string> out;
  };
  for (const auto& c : std::vector<Case>{
           {"Example.COM.", "example.com"},
           {"  mail  ", "mail"},
           {"", ""},
           {"   ", ""},
           {".", "."},
           {std::string(253, 'a'), std::string(253, 'a')},
           {std::string(254, 'a'), std::nullopt},
       }) {
    EXPECT_EQ(normalize_search(c.in), c.out) << c.in;
  }
}

}  // namespace
}  // namespace stsd::admin::status
