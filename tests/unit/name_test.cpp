#include "dns/name.h"

#include <gtest/gtest.h>

using stsd::dns::Name;

TEST(Name, FromTextAbsoluteAndRelative) {
  auto n = Name::from_text("www.Example.org.");
  ASSERT_TRUE(n);
  EXPECT_EQ(n->to_text(), "www.Example.org.");
  EXPECT_EQ(n->label_count(), 3u);
  auto origin = Name::from_text("example.org.");
  auto rel = Name::from_text("mail", &*origin);
  ASSERT_TRUE(rel);
  EXPECT_EQ(rel->to_text(), "mail.example.org.");
  EXPECT_EQ(Name::from_text("@", &*origin)->to_text(), "example.org.");
  EXPECT_FALSE(Name::from_text("relative"));  // no origin
}

TEST(Name, RejectsBadNames) {
  EXPECT_FALSE(Name::from_text(""));
  EXPECT_FALSE(Name::from_text("a..b."));
  EXPECT_FALSE(Name::from_text(std::string(64, 'a') + "."));
  EXPECT_TRUE(Name::from_text(std::string(63, 'a') + "."));
  std::string long_name;
  for (int i = 0; i < 4; ++i) long_name += std::string(63, 'a') + ".";
  EXPECT_FALSE(Name::from_text(long_name));  // 4*64+1 > 255
  EXPECT_FALSE(Name::from_text("bad\\2."));
}

TEST(Name, Escapes) {
  auto n = Name::from_text("a\\.b.c\\032d.");
  ASSERT_TRUE(n);
  EXPECT_EQ(n->label_count(), 2u);
  EXPECT_EQ(n->to_text(), "a\\.b.c\\032d.");
}

TEST(Name, CaseInsensitiveEqualityAndHash) {
  auto a = *Name::from_text("WWW.example.ORG.");
  auto b = *Name::from_text("www.EXAMPLE.org.");
  EXPECT_TRUE(a == b);
  EXPECT_EQ(stsd::dns::NameHash{}(a), stsd::dns::NameHash{}(b));
  a.to_lower();
  EXPECT_EQ(a.to_text(), "www.example.org.");
}

TEST(Name, SubdomainUsesLabelBoundaries) {
  auto zone = *Name::from_text("example.com.");
  EXPECT_TRUE(Name::from_text("a.b.example.com.")->is_subdomain_of(zone));
  EXPECT_TRUE(Name::from_text("EXAMPLE.com.")->is_subdomain_of(zone));
  EXPECT_FALSE(Name::from_text("xexample.com.")->is_subdomain_of(zone));
  EXPECT_FALSE(Name::from_text("com.")->is_subdomain_of(zone));
  EXPECT_TRUE(zone.is_subdomain_of(Name()));
}

TEST(Name, ParentPrependAppend) {
  auto n = *Name::from_text("a.b.c.");
  EXPECT_EQ(n.parent().to_text(), "b.c.");
  EXPECT_EQ(n.parent(3).to_text(), ".");
  EXPECT_TRUE(n.prepend_label("_mta-sts"));
  EXPECT_EQ(n.to_text(), "_mta-sts.a.b.c.");
  EXPECT_TRUE(n.append(*Name::from_text("sts.provider.test.")));
  EXPECT_EQ(n.to_text(), "_mta-sts.a.b.c.sts.provider.test.");
}
