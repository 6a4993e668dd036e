#pragma once
// The admin API against a real store (RocksDB in a temporary folder), shared by the API's
// tests: requests go to AdminApi::handle as the HTTP transport hands them over.
#include <gtest/gtest.h>

#include <filesystem>

#include <rocksdb/db.h>

#include "api.h"
#include "clock.h"
#include "temp_dir.h"

namespace stsd::admin {

inline constexpr int64_t kStart = 1735732800;  // 2025-01-01T12:00:00Z

class Api : public testing::Test {
 protected:
  void SetUp() override {
    rocksdb::Options options;
    options.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    auto opened = rocksdb::DB::Open(options, (dir_.path() / "db").native(), &raw);
    ASSERT_TRUE(opened.ok()) << opened.ToString();
    db_.reset(raw);
    clock_ = std::make_shared<ManualClock>(std::chrono::system_clock::time_point(std::chrono::seconds(kStart)));
    state_ = std::make_shared<store::PolicyStore>(*db_, clock_);
    hooks_ = std::make_shared<store::AdminExtensions>();
    api_ = std::make_unique<AdminApi>(state_, hooks_);
  }
  void TearDown() override {
    api_.reset();
    state_.reset();
    db_.reset();
  }

  ApiResponse call(const std::string& method, const std::string& target, const nlohmann::json& body = nullptr) {
    return api_->handle({method, target, body.is_null() ? std::string() : body.dump()});
  }
  ApiResponse raw(const std::string& method, const std::string& target, std::string body) {
    return api_->handle({method, target, std::move(body)});
  }
  ApiResponse csv(const std::string& target, std::string body) {
    return api_->handle({"POST", target, std::move(body), std::string(kCsvMediaType)});
  }
  void add_staged_confirmed(const std::string& domain) {
    ASSERT_EQ(call("POST", "/v1/domains", {{"domain", domain}}).status, 201u);
    ASSERT_EQ(call("POST", "/v1/domains/" + domain + "/policies",
                   {{"mode", "enforce"}, {"mx", {"mx1." + domain}}, {"max_age", 604800}})
                  .status,
              201u);
    ASSERT_EQ(call("POST", "/v1/domains/" + domain + "/confirm", {{"version", 1}, {"reason", "checked"}}).status, 200u);
  }

  test::TempDir dir_{"admin-api-test"};  // outlives db_ (TearDown closes it)
  std::unique_ptr<rocksdb::DB> db_;
  std::shared_ptr<ManualClock> clock_;
  std::shared_ptr<store::PolicyStore> state_;
  std::shared_ptr<store::AdminExtensions> hooks_;
  std::unique_ptr<AdminApi> api_;
};

}  // namespace stsd::admin
