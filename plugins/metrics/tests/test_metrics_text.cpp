// The exposition format (text 0.0.4) as Prometheus parses it, the registry's collector
// lifetime, and the per-thread counter shards.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <thread>

#include "metrics.h"

using namespace stsd::metrics;

namespace {

size_t count_of(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

TEST(MetricsText, LabelValuesEscapeBackslashQuoteAndNewline) {
  struct Case {
    std::string value, expected;
  };
  const Case cases[] = {
      {"plain", "plain"},
      {"a\\b", "a\\\\b"},
      {"say \"hi\"", "say \\\"hi\\\""},
      {"two\nlines", "two\\nlines"},
      {"tab\tstays", "tab\tstays"},
      {"ünïcode", "ünïcode"},
  };
  for (const auto& c : cases) {
    std::string out;
    append_escaped_label_value(out, c.value);
    EXPECT_EQ(out, c.expected) << c.value;
  }
  MetricsWriter writer;
  writer.gauge("x", "help", {{"domain", "we\"ird\\dom\nain"}}, 1);
  EXPECT_NE(writer.render().find("x{domain=\"we\\\"ird\\\\dom\\nain\"} 1\n"), std::string::npos) << writer.render();
}

TEST(MetricsText, HelpEscapesBackslashAndNewlineOnly) {
  MetricsWriter writer;
  writer.counter("c_total", "a \"quoted\" back\\slash\nnext", {}, 3);
  EXPECT_EQ(writer.render(), "# HELP c_total a \"quoted\" back\\\\slash\\nnext\n# TYPE c_total counter\nc_total 3\n");
}

TEST(MetricsText, ValuesPrintAsPrometheusParsesThem) {
  struct Case {
    double value;
    std::string expected;
  };
  const Case cases[] = {{0, "0"},
                        {42, "42"},
                        {-3, "-3"},
                        {0.25, "0.25"},
                        {1e-4, "0.0001"},
                        {HUGE_VAL, "+Inf"},
                        {-HUGE_VAL, "-Inf"},
                        {NAN, "NaN"},
                        {1.5e300, "1.5e+300"},
                        {0.00025, "0.00025"},
                        {2.5e-5, "2.5e-05"},
                        {1234567.5, "1.2345675e+06"},
                        {-0.5, "-0.5"}};
  for (const auto& c : cases) {
    std::string out;
    append_value(out, c.value);
    EXPECT_EQ(out, c.expected) << c.value;
  }
}

TEST(MetricsText, OneHeaderPerFamilyWhateverTheOrderOfSamples) {
  MetricsWriter writer;
  writer.counter("stsd_b_total", "b", {{"k", "1"}}, 1);
  writer.gauge("stsd_a", "a", {}, 5);
  writer.counter("stsd_b_total", "b", {{"k", "2"}}, 2);  // a second collector, later
  const auto text = writer.render();
  EXPECT_EQ(count_of(text, "# TYPE stsd_b_total counter"), 1u) << text;
  EXPECT_EQ(count_of(text, "# HELP stsd_b_total"), 1u) << text;
  // The family's samples sit together, right after its header.
  EXPECT_NE(text.find("# TYPE stsd_b_total counter\nstsd_b_total{k=\"1\"} 1\nstsd_b_total{k=\"2\"} 2\n"),
            std::string::npos)
      << text;
  EXPECT_LT(text.find("stsd_a 5"), text.find("stsd_b_total{"));  // sorted by name
}

TEST(MetricsText, DeclaredFamilyWithoutSamplesHasItsHeader) {
  MetricsWriter writer;
  writer.declare("stsd_held", "held domains", Type::Gauge);
  EXPECT_EQ(writer.render(), "# HELP stsd_held held domains\n# TYPE stsd_held gauge\n");
}

TEST(MetricsText, InvalidSamplesAreLeftOutAndNamed) {
  MetricsWriter writer;
  writer.gauge("bad-name", "h", {}, 1);
  writer.gauge("9starts_with_digit", "h", {}, 1);
  writer.gauge("ok", "h", {{"bad label", "v"}}, 1);
  writer.gauge("ok", "h", {{"__reserved", "v"}}, 1);
  writer.gauge("ok", "h", {{"k", "1"}, {"k", "2"}}, 1);
  writer.gauge("twice", "h", {}, 1);
  writer.counter("twice", "h", {}, 1);  // same family, other type
  writer.gauge("ok", "h", {{"k", "v"}}, 7);
  const auto text = writer.render();
  EXPECT_EQ(writer.problems().size(), 6u) << text;
  EXPECT_EQ(text.find("bad-name "), std::string::npos);
  EXPECT_NE(text.find("ok{k=\"v\"} 7\n"), std::string::npos) << text;
  EXPECT_NE(text.find("# TYPE twice gauge\ntwice 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("# stsd: sample left out: invalid metric name 'bad-name'"), std::string::npos) << text;
  EXPECT_TRUE(valid_metric_name("stsd:recorded_rule"));
  EXPECT_FALSE(valid_label_name("with:colon"));
}

TEST(MetricsText, HistogramHasCumulativeBucketsInfSumAndCount) {
  MetricsWriter writer;
  const std::array<double, 3> bounds = {0.001, 0.01, 0.1};
  const std::array<uint64_t, 4> counts = {2, 3, 0, 1};  // per bucket; the last is +Inf
  writer.histogram("stsd_d_seconds", "durations", {{"server", "a"}}, bounds, counts, 1.5);
  EXPECT_EQ(writer.render(),
            "# HELP stsd_d_seconds durations\n"
            "# TYPE stsd_d_seconds histogram\n"
            "stsd_d_seconds_bucket{server=\"a\",le=\"0.001\"} 2\n"
            "stsd_d_seconds_bucket{server=\"a\",le=\"0.01\"} 5\n"
            "stsd_d_seconds_bucket{server=\"a\",le=\"0.1\"} 5\n"
            "stsd_d_seconds_bucket{server=\"a\",le=\"+Inf\"} 6\n"
            "stsd_d_seconds_sum{server=\"a\"} 1.5\n"
            "stsd_d_seconds_count{server=\"a\"} 6\n");
}

TEST(MetricsText, HistogramRejectsMismatchedBucketsAndLeLabel) {
  MetricsWriter writer;
  const std::array<double, 2> bounds = {0.1, 1};
  const std::array<uint64_t, 2> too_few = {1, 1};
  const std::array<uint64_t, 3> counts = {1, 1, 1};
  const std::array<double, 2> unordered = {1, 0.1};
  writer.histogram("h1", "h", {}, bounds, too_few, 0);
  writer.histogram("h2", "h", {}, unordered, counts, 0);
  writer.histogram("h3", "h", {{"le", "x"}}, bounds, counts, 0);
  EXPECT_EQ(writer.problems().size(), 3u) << writer.render();
  EXPECT_EQ(writer.render().find("h1_bucket"), std::string::npos);
}

TEST(MetricsRegistry, CollectorsRunAtScrapeAndStopWithTheirHandle) {
  MetricsRegistry registry;
  int value = 1;
  auto first = registry.add("first", [&](MetricsWriter& w) { w.gauge("stsd_value", "v", {{"from", "first"}}, value); });
  {
    auto second = registry.add("second", [](MetricsWriter& w) { w.gauge("stsd_value", "v", {{"from", "second"}}, 2); });
    value = 10;
    const auto text = registry.scrape();
    EXPECT_NE(text.find("stsd_value{from=\"first\"} 10\n"), std::string::npos) << text;
    EXPECT_NE(text.find("stsd_value{from=\"second\"} 2\n"), std::string::npos) << text;
    EXPECT_EQ(count_of(text, "# TYPE stsd_value"), 1u);
    EXPECT_EQ(registry.collector_count(), 2u);
  }
  EXPECT_EQ(registry.collector_count(), 1u);
  EXPECT_EQ(registry.scrape().find("second"), std::string::npos);
  MetricsRegistry::Registration moved = std::move(first);
  EXPECT_EQ(registry.collector_count(), 1u);
  moved.reset();
  EXPECT_EQ(registry.collector_count(), 0u);
}

TEST(MetricsRegistry, AFailingCollectorDoesNotSpoilTheScrape) {
  MetricsRegistry registry;
  auto bad = registry.add("broken", [](MetricsWriter& w) { throw std::runtime_error("state unreadable"); });
  auto good = registry.add("fine", [](MetricsWriter& w) { w.gauge("stsd_ok", "ok", {}, 1); });
  const auto text = registry.scrape();
  EXPECT_NE(text.find("stsd_ok 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("# stsd: collector failed: broken: state unreadable"), std::string::npos) << text;
}

TEST(MetricsRegistry, HandleOutlivingTheRegistryIsHarmless) {
  MetricsRegistry::Registration handle;
  {
    MetricsRegistry registry;
    handle = registry.add("x", [](MetricsWriter&) {});
  }
  handle.reset();  // must not touch the destroyed registry
  EXPECT_FALSE(handle);
}

TEST(ShardedCounters, EachThreadHasItsShardAndTotalsSumThem) {
  ShardedCounters counters(12);  // two cache lines
  counters.add(0);
  counters.add(11, 5);
  std::thread other([&] {
    for (int i = 0; i < 1000; ++i) counters.add(0);
    counters.add(9, 2);
  });
  other.join();  // the thread has exited: its counts must stay
  counters.add(0);
  const auto totals = counters.totals();
  ASSERT_EQ(totals.size(), 12u);
  EXPECT_EQ(totals[0], 1002u);
  EXPECT_EQ(totals[9], 2u);
  EXPECT_EQ(totals[11], 5u);
  EXPECT_EQ(totals[1], 0u);
  EXPECT_EQ(counters.shard_count(), 2u);
}

TEST(ShardedCounters, ManyWritersLoseNoIncrement) {
  ShardedCounters counters(3);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 100000; ++i) counters.add(static_cast<size_t>(i % 3));
    });
  // Scrapes while the writers run see partial sums, never more than the truth.
  for (int i = 0; i < 50; ++i) EXPECT_LE(counters.totals()[0], 8u * 33334u);
  for (auto& t : threads) t.join();
  const auto totals = counters.totals();
  EXPECT_EQ(totals[0] + totals[1] + totals[2], 800000u);
  EXPECT_EQ(totals[0], 8u * 33334u);
}

TEST(ShardedCounters, AThreadWritingManySetsKeepsOneShardPerSet) {
  // More sets than the thread-local cache has slots: lookups fall back to the set's own
  // table instead of making a new shard each time.
  std::vector<std::unique_ptr<ShardedCounters>> sets;
  for (int i = 0; i < 20; ++i) sets.push_back(std::make_unique<ShardedCounters>(1));
  for (int round = 0; round < 5; ++round)
    for (auto& set : sets) set->add(0);
  for (auto& set : sets) {
    EXPECT_EQ(set->shard_count(), 1u);
    EXPECT_EQ(set->totals()[0], 5u);
  }
  // A set made where a destroyed one was starts from zero (ids are never reused).
  sets[3].reset();
  sets[3] = std::make_unique<ShardedCounters>(1);
  sets[3]->add(0);
  EXPECT_EQ(sets[3]->totals()[0], 1u);
}

}  // namespace
