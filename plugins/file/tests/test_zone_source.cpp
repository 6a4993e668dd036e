// FileZoneSource (zone_source.h): the loaded zones as data for zone transfers, added to
// zone::Sources when the load commits and removed with the plugin, and the warning a
// reload logs when a zone's records change but its SOA serial does not.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "dns/types.h"
#include "file_plugin.h"
#include "plugin_test_support.h"
#include "temp_dir.h"
#include "zone/source.h"

using namespace stsd;

namespace {

const std::filesystem::path kDataDir = std::filesystem::path(STSD_SOURCE_DIR) / "plugins/file/tests/data";

std::shared_ptr<zone::Sources> sources(Environment& env) {
  return env.find_shared<zone::Sources>(zone::Sources::kSharedKey);
}

TEST(FileZoneSource, ListsAndRendersTheLoadedZonesOnceCommitted) {
  test::SetupFixture fixture;
  const auto config = test::yaml_node(
      "- { zone: example.org., path: lookup.zone }\n"
      "- { zone: child.example.org., path: child.zone }\n",
      "file", kDataDir / "stsd.yaml");
  auto setup = fixture.setup(config);
  auto plugin = file::make_file_plugin(setup);
  EXPECT_FALSE(sources(fixture.env)) << "nothing is added before the load commits";
  fixture.load.commit();
  ASSERT_TRUE(sources(fixture.env));
  const auto all = sources(fixture.env)->snapshot();
  ASSERT_EQ(all.size(), 1u);

  std::vector<zone::ZoneEntry> entries;
  all[0]->list(entries);
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].apex.to_text(), "example.org.");
  EXPECT_EQ(entries[0].serial, 2024010101u);
  EXPECT_EQ(entries[1].apex.to_text(), "child.example.org.");
  EXPECT_EQ(entries[1].serial, 7u);

  const auto content = all[0]->render(*dns::Name::from_text("EXAMPLE.org."));
  ASSERT_TRUE(content);
  EXPECT_EQ(content->serial, 2024010101u);
  ASSERT_FALSE(content->records.empty());
  EXPECT_EQ(content->records[0].type, dns::rrtype::SOA);
  EXPECT_EQ(content->records[0].owner.to_text(), "example.org.");
  // Every record of the zone, once: the SOA first, then by owner.
  const auto& zone = *static_cast<file::FilePlugin&>(*plugin).zones()[0];
  size_t records = 0;
  for (const auto& [name, node] : zone.nodes())
    for (const auto& rrset : node.rrsets) records += rrset.rdatas.size();
  EXPECT_EQ(content->records.size(), records);
  EXPECT_EQ(std::count_if(content->records.begin(), content->records.end(),
                          [](const zone::Record& r) { return r.type == dns::rrtype::SOA; }),
            1);
  EXPECT_TRUE(std::is_sorted(content->records.begin() + 1, content->records.end(), [](const auto& a, const auto& b) {
    const auto x = a.owner.wire(), y = b.owner.wire();
    return std::lexicographical_compare(x.begin(), x.end(), y.begin(), y.end());
  }));
  const auto has = [&](const std::string& owner, uint16_t type) {
    return std::any_of(content->records.begin(), content->records.end(),
                       [&](const zone::Record& r) { return r.owner.to_text() == owner && r.type == type; });
  };
  EXPECT_TRUE(has("sub.example.org.", dns::rrtype::NS)) << "delegations are part of the zone";
  EXPECT_TRUE(has("ns1.sub.example.org.", dns::rrtype::A)) << "and so is glue (RFC 5936 §3.1)";
  EXPECT_FALSE(all[0]->render(*dns::Name::from_text("www.example.org.")));
  EXPECT_FALSE(all[0]->render(*dns::Name::from_text("example.net.")));

  plugin.reset();
  EXPECT_TRUE(sources(fixture.env)->snapshot().empty()) << "the source leaves with its plugin";
}

class FileReloadSerials : public ::testing::Test {
 protected:
  void write_zone(uint32_t serial, const std::string& address) {
    std::ofstream(dir_.path() / "example.zone") << "$ORIGIN example.org.\n$TTL 300\n@ IN SOA ns1 hostmaster " << serial
                                        << " 7200 900 1209600 300\n@ IN NS ns1\nns1 IN A 192.0.2.1\nwww IN A "
                                        << address << "\n";
  }
  // Builds a chain from the zone file and commits it, as a reload does; what it logged.
  std::string reload() {
    const auto config =
        test::yaml_node("- { zone: example.org., path: example.zone }", "file", dir_.path() / "stsd.yaml");
    PendingLoad load;
    PluginSetup setup{fixture_.env, config, fixture_.listen, 0, load};
    auto plugin = file::make_file_plugin(setup);
    ::testing::internal::CaptureStderr();
    load.commit();
    plugin_ = std::move(plugin);  // the new chain replaces the old one
    return ::testing::internal::GetCapturedStderr();
  }

  test::TempDir dir_{"file-serials"};
  test::SetupFixture fixture_;
  std::unique_ptr<Plugin> plugin_;
};

TEST_F(FileReloadSerials, ChangedRecordsUnderTheSameSerialAreLogged) {
  write_zone(1, "192.0.2.80");
  EXPECT_EQ(reload(), "") << "the first load has nothing to compare with";
  write_zone(1, "192.0.2.81");
  const std::string warning = reload();
  EXPECT_NE(warning.find("zone example.org. (" + (dir_.path() / "example.zone").string() +
                         ") changed but its SOA serial is still 1"),
            std::string::npos)
      << warning;
  std::vector<zone::ZoneEntry> entries;
  sources(fixture_.env)->snapshot().at(0)->list(entries);
  EXPECT_EQ(entries.at(0).serial, 1u) << "the serial is the file's, whatever the records";

  write_zone(2, "192.0.2.82");
  EXPECT_EQ(reload(), "") << "a raised serial";
  write_zone(2, "192.0.2.82");
  EXPECT_EQ(reload(), "") << "nothing changed";
}

}  // namespace
