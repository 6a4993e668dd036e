// The readiness registry: gates added closed, opened by their owners, withdrawn when the
// owner drops an unopened gate; stopping overrides them; every change is reported.
#include "readiness.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <optional>

#include "environment.h"

using namespace stsd;

namespace {

using Names = std::vector<std::string>;

TEST(Readiness, ReadyOnlyOnceEveryGateIsOpen) {
  auto readiness = std::make_shared<Readiness>();
  EXPECT_TRUE(readiness->ready());  // nothing registered holds it back
  auto listeners = readiness->add_gate("listeners-bound");
  auto index = readiness->add_gate("store-index-loaded");
  EXPECT_FALSE(readiness->ready());
  EXPECT_EQ(readiness->closed_gates(), (Names{"listeners-bound", "store-index-loaded"}));
  index.open();
  EXPECT_FALSE(readiness->ready());
  EXPECT_EQ(readiness->closed_gates(), (Names{"listeners-bound"}));
  listeners.open();
  EXPECT_TRUE(readiness->ready());
  EXPECT_TRUE(readiness->closed_gates().empty());
  const auto gates = readiness->gates();
  ASSERT_EQ(gates.size(), 2u);
  EXPECT_EQ(gates[0].name, "listeners-bound");
  EXPECT_TRUE(gates[0].open && gates[1].open);
}

TEST(Readiness, GatesOfOneNameMustAllOpenAndAreNamedOnce) {
  auto readiness = std::make_shared<Readiness>();
  auto first = readiness->add_gate("warm");
  auto second = readiness->add_gate("warm");
  EXPECT_EQ(readiness->closed_gates(), (Names{"warm"}));
  first.open();
  EXPECT_FALSE(readiness->ready());
  EXPECT_EQ(readiness->closed_gates(), (Names{"warm"}));
  second.open();
  EXPECT_TRUE(readiness->ready());
}

TEST(Readiness, AnUnopenedGateIsWithdrawnWithItsHandleAnOpenedOneStays) {
  auto readiness = std::make_shared<Readiness>();
  auto kept = readiness->add_gate("listeners-bound");
  {
    auto abandoned = readiness->add_gate("store-index-loaded");  // a store that failed to open
    EXPECT_EQ(readiness->gates().size(), 2u);
  }
  EXPECT_EQ(readiness->gates().size(), 1u);
  EXPECT_EQ(readiness->closed_gates(), (Names{"listeners-bound"}));
  {
    auto loaded = readiness->add_gate("store-index-loaded");
    loaded.open();
  }
  ASSERT_EQ(readiness->gates().size(), 2u);
  EXPECT_TRUE(readiness->gates()[1].open);
  kept.open();
  EXPECT_TRUE(readiness->ready());
}

TEST(Readiness, AMovedHandleOpensTheGateOnce) {
  auto readiness = std::make_shared<Readiness>();
  auto gate = readiness->add_gate("g");
  Readiness::Gate moved = std::move(gate);
  gate.open();  // the moved-from handle holds nothing
  EXPECT_FALSE(readiness->ready());
  Readiness::Gate assigned;
  assigned = std::move(moved);
  assigned.open();
  EXPECT_TRUE(readiness->ready());
  assigned.open();  // a second open changes nothing
  EXPECT_TRUE(readiness->ready());
}

TEST(Readiness, StoppingIsNotReadyWhateverTheGates) {
  auto readiness = std::make_shared<Readiness>();
  auto gate = readiness->add_gate("g");
  gate.open();
  ASSERT_TRUE(readiness->ready());
  readiness->set_stopping();
  EXPECT_FALSE(readiness->ready());
  EXPECT_TRUE(readiness->stopping());
  EXPECT_TRUE(readiness->closed_gates().empty());
}

TEST(Readiness, EveryChangeIsReportedOutsideTheLock) {
  auto readiness = std::make_shared<Readiness>();
  std::vector<bool> seen;  // ready() at each report: the listener may read the registry
  readiness->on_change([&] { seen.push_back(readiness->ready()); });
  auto a = readiness->add_gate("a");
  {
    auto withdrawn = readiness->add_gate("b");
  }
  a.open();
  a.open();  // no change, no report
  readiness->set_stopping();
  readiness->set_stopping();
  EXPECT_EQ(seen, (std::vector<bool>{false, false, false, true, false}));
  readiness->on_change(nullptr);
  auto c = readiness->add_gate("c");
  EXPECT_EQ(seen.size(), 5u);
}

TEST(Readiness, OnePerProcessThroughTheEnvironment) {
  Environment env(std::filesystem::temp_directory_path(), std::nullopt, nullptr, false);
  auto first = Readiness::of(env);
  auto gate = first->add_gate("g");
  EXPECT_EQ(Readiness::of(env), first);
  EXPECT_FALSE(Readiness::of(env)->ready());
}

}  // namespace
