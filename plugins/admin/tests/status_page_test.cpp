// The status page against a real store (RocksDB in a temp folder): paging by cursor,
// search with its scan budget, the domain page with the sections other services add, the
// drift hold, the token, and the read-only routes.
#include <gtest/gtest.h>

#include <set>

#include "api_fixture.h"
#include "status/status_page.h"

namespace stsd::admin::status {
namespace {

using nlohmann::json;

// d000.example ... d129.example, every one confirmed.
constexpr int kDomains = 130;

std::string name_of(int i) {
  char text[32];
  std::snprintf(text, sizeof text, "d%03d.example", i);
  return text;
}

class StatusPageTest : public Api {
 protected:
  void SetUp() override {
    Api::SetUp();
    std::vector<store::ImportItem> items;
    for (int i = 0; i < kDomains; ++i) items.push_back({name_of(i), std::nullopt, {store::Mode::Enforce, {"mx1." + name_of(i)}, 604800}});
    state_->import(items, /*confirm_now=*/true, "test");
    page_ = std::make_unique<StatusPage>(state_, hooks_);
  }

  http::Reply get(const std::string& target, const std::string& method = "GET") const {
    http::Request request;
    request.method = method;
    request.target = target;
    if (auto refused = page_->check_token(request)) return *refused;
    return page_->handle(request);
  }

  std::vector<std::string> names(const ListView& view) const {
    std::vector<std::string> out;
    for (const auto& row : view.rows) out.push_back(row.domain);
    return out;
  }

  std::unique_ptr<StatusPage> page_;
};

TEST_F(StatusPageTest, PagesThroughEveryDomainInOrder) {
  std::vector<std::string> seen;
  std::string after;
  int pages = 0;
  for (;; ++pages) {
    const ListView view = page_->list("", after);
    ASSERT_LE(view.rows.size(), kPageSize);
    EXPECT_EQ(view.total_domains, static_cast<size_t>(kDomains));
    for (const auto& row : view.rows) seen.push_back(row.domain);
    if (!view.next_after) break;
    EXPECT_EQ(*view.next_after, view.rows.back().domain);
    after = *view.next_after;
  }
  EXPECT_EQ(pages, 2);  // 50 + 50 + 30
  ASSERT_EQ(seen.size(), static_cast<size_t>(kDomains));
  for (int i = 0; i < kDomains; ++i) EXPECT_EQ(seen[i], name_of(i));
}

TEST_F(StatusPageTest, RowsShowVersionsIdAndNextRotation) {
  const ListView view = page_->list("d007", "");
  ASSERT_EQ(view.rows.size(), 1u);
  const DomainRow& row = view.rows[0];
  EXPECT_EQ(row.domain, "d007.example");
  EXPECT_EQ(row.staged, 1u);
  EXPECT_EQ(row.confirmed, 1u);
  EXPECT_FALSE(row.pending);
  EXPECT_FALSE(row.drift_hold);
  const auto status = state_->status("d007.example", state_->now());
  EXPECT_EQ(row.served_id, status->served_id);
  EXPECT_FALSE(row.served_id.empty());
  EXPECT_EQ(row.next_rotation, status->next_rotation);
}

TEST_F(StatusPageTest, SearchFindsEveryNameContainingTheText) {
  struct Case {
    std::string query;
    std::set<std::string> expected;
  };
  for (const auto& c : std::vector<Case>{
           {"d12", {"d120.example", "d121.example", "d122.example", "d123.example", "d124.example", "d125.example",
                    "d126.example", "d126.example", "d127.example", "d128.example", "d129.example"}},
           {"99.ex", {"d099.example"}},
           {"nowhere", {}},
       }) {
    const ListView view = page_->list(c.query, "");
    const auto found = names(view);
    EXPECT_EQ(std::set<std::string>(found.begin(), found.end()), c.expected) << c.query;
    EXPECT_FALSE(view.next_after) << c.query;
    EXPECT_FALSE(view.scan_budget_spent) << c.query;
  }
}

TEST_F(StatusPageTest, SearchPagesWhenMoreMatchThanAPage) {
  const ListView first = page_->list("example", "");
  EXPECT_EQ(first.rows.size(), kPageSize);
  ASSERT_TRUE(first.next_after);
  const ListView second = page_->list("example", *first.next_after);
  EXPECT_EQ(second.rows.front().domain, name_of(kPageSize));
}

TEST_F(StatusPageTest, SearchStopsAtItsBudgetAndContinuesFromThere) {
  // Only d125 matches; with a budget of 40 names per request it takes four requests.
  std::string after;
  std::vector<std::string> found;
  int requests = 0;
  for (;; ++requests) {
    const ListView view = page_->list("d125", after, kPageSize, 40);
    EXPECT_LE(view.scanned, 40u);
    for (const auto& name : names(view)) found.push_back(name);
    if (!view.next_after) break;
    EXPECT_TRUE(view.scan_budget_spent);
    after = *view.next_after;
    ASSERT_LT(requests, 10);
  }
  EXPECT_EQ(found, std::vector<std::string>{"d125.example"});
  EXPECT_EQ(requests, 3);  // 40 + 40 + 40 names, then the last 10
}

TEST_F(StatusPageTest, ABudgetEndingOnTheLastNameLeavesNoNextPage) {
  const ListView view = page_->list("d125", "d099.example", kPageSize, kDomains - 100);
  EXPECT_EQ(view.scanned, static_cast<size_t>(kDomains - 100));
  EXPECT_EQ(names(view), std::vector<std::string>{"d125.example"});
  EXPECT_FALSE(view.scan_budget_spent);
  EXPECT_FALSE(view.next_after);
}

TEST_F(StatusPageTest, ADriftHoldShowsInTheListAndOnTheDomainPage) {
  state_->set_hold("d003.example", std::string("edge 127.0.0.12:443 serves a policy that matches no version"));
  const ListView view = page_->list("d003", "");
  ASSERT_EQ(view.rows.size(), 1u);
  EXPECT_TRUE(view.rows[0].drift_hold);
  const auto list = get("/?q=d003");
  EXPECT_EQ(list.status, 200u);
  EXPECT_NE(list.body.find("drift hold"), std::string::npos) << list.body;
  const auto domain = get("/domains/d003.example");
  EXPECT_EQ(domain.status, 200u);
  EXPECT_NE(domain.body.find("id=\"drift-hold\""), std::string::npos) << domain.body;
  EXPECT_NE(domain.body.find("matches no version"), std::string::npos);
}

TEST_F(StatusPageTest, DomainPageShowsRegisteredSectionsEscaped) {
  hooks_->add_status_section("tlsrpt", [](const std::string& domain) {
    return json{{"lines", {"2 failed sessions for " + domain + " <from> reporter"}}, {"failed", 2}};
  });
  const auto reply = get("/domains/D010.Example.");
  ASSERT_EQ(reply.status, 200u) << reply.body;
  EXPECT_NE(reply.body.find("<h1>d010.example</h1>"), std::string::npos);
  EXPECT_NE(reply.body.find("<section id=\"section-tlsrpt\">"), std::string::npos) << reply.body;
  EXPECT_NE(reply.body.find("2 failed sessions for d010.example &lt;from&gt; reporter"), std::string::npos);
  EXPECT_EQ(reply.body.find("<from>"), std::string::npos);
  EXPECT_NE(reply.body.find(state_->status("d010.example", state_->now())->served_id), std::string::npos);
  EXPECT_EQ(*reply.header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(reply.header("Content-Security-Policy")->find("default-src 'none'"), std::string::npos);
}

TEST_F(StatusPageTest, RoutesAndRefusals) {
  struct Case {
    std::string method, target;
    unsigned status;
    std::string content_type;
  };
  for (const auto& c : std::vector<Case>{
           {"GET", "/", 200, "text/html; charset=utf-8"},
           {"HEAD", "/", 200, "text/html; charset=utf-8"},
           {"GET", "/?q=d00&after=d003.example", 200, "text/html; charset=utf-8"},
           {"GET", "/style.css", 200, "text/css; charset=utf-8"},
           {"GET", "/domains/nowhere.example", 404, "text/html; charset=utf-8"},
           {"GET", "/domains/not..a..name", 400, "text/html; charset=utf-8"},
           {"GET", "/?q=" + std::string(300, 'a'), 400, "text/html; charset=utf-8"},
           {"GET", "/?q=%zz", 400, "text/html; charset=utf-8"},
           {"GET", "/v1/domains", 404, "text/html; charset=utf-8"},
           {"POST", "/", 405, "text/html; charset=utf-8"},
           {"DELETE", "/domains/d001.example", 405, "text/html; charset=utf-8"},
       }) {
    const auto reply = get(c.target, c.method);
    EXPECT_EQ(reply.status, c.status) << c.method << " " << c.target << ": " << reply.body;
    EXPECT_EQ(*reply.header("Content-Type"), c.content_type) << c.target;
  }
  EXPECT_TRUE(state_->has_domain("d001.example"));
}

TEST_F(StatusPageTest, ATokenIsAskedForOnceSet) {
  const std::string token = "0123456789abcdef0123456789abcdef";
  page_->set_token(token);
  auto request_with = [&](const std::string& authorization) {
    http::Request request;
    request.method = "GET";
    request.target = "/";
    if (!authorization.empty()) request.headers.emplace_back("Authorization", authorization);
    return page_->check_token(request);
  };
  // "user:<token>" and "status:<token>" in base64 (RFC 7617); the user name is ignored.
  EXPECT_FALSE(request_with("Basic dXNlcjowMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZg=="));
  EXPECT_FALSE(request_with("basic c3RhdHVzOjAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVm"));
  EXPECT_FALSE(request_with("Bearer " + token));
  for (const std::string& wrong : {std::string(), "Bearer " + token + "x", std::string("Bearer "),
                                   std::string("Basic dXNlcjp3cm9uZw=="), std::string("Basic !!!"),
                                   "Digest " + token, token}) {
    const auto refused = request_with(wrong);
    ASSERT_TRUE(refused) << wrong;
    EXPECT_EQ(refused->status, 401u);
    EXPECT_EQ(*refused->header("WWW-Authenticate"), "Basic realm=\"stsd status\", charset=\"UTF-8\"");
  }
  page_->set_token("");
  EXPECT_FALSE(request_with(""));
}

}  // namespace
}  // namespace stsd::admin::status
