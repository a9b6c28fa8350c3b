// herald::geo::locator: Debian's legacy country databases as installed by geoip-database, and a
// MaxMind DB written by the test itself (there is none on the machine, and tests download
// nothing), both for IPv4 and IPv6, addresses that are not there or not addresses, and errors
// naming the file.
//
// Suites are named Geo* (not geo_*) so that --gtest_filter='Geo*' selects them.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "herald/geo/geo.hpp"
#include "support/process.hpp"

namespace {

using herald::geo::location;
using herald::geo::locator;

// The message of the std::runtime_error `open` throws; fails the test when it throws none.
template <typename Open>
std::string open_error(Open open) {
  try {
    open();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return {};
}

void write_file(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  ASSERT_TRUE(out.good()) << path;
}

// --- Debian's legacy databases -----------------------------------------------------------------

// What Debian 12's databases say (geoip-database 20230203+really20191224-0+deb12u1, checked
// with geoiplookup and geoiplookup6). Only addresses whose country no data update is likely to
// change: anycast resolvers such as 1.1.1.1 and 9.9.9.9 move between countries from one
// edition to the next.
TEST(GeoDebian, places_public_resolvers_in_their_countries) {
  const auto geo = locator::open();
  EXPECT_EQ(geo->lookup("8.8.8.8"), location{.country = "US"});         // Google
  EXPECT_EQ(geo->lookup("208.67.222.222"), location{.country = "US"});  // OpenDNS
  EXPECT_EQ(geo->lookup("77.88.8.8"), location{.country = "RU"});       // Yandex
}

TEST(GeoDebian, places_ipv6_addresses_from_the_v6_database) {
  const auto geo = locator::open();
  EXPECT_EQ(geo->lookup("2001:4860:4860::8888"), location{.country = "US"});  // Google
  EXPECT_EQ(geo->lookup("2a02:6b8::feed:ff"), location{.country = "RU"});     // Yandex
  EXPECT_EQ(geo->lookup("2A02:6B8::FEED:FF"), location{.country = "RU"});
}

TEST(GeoDebian, answers_an_ipv4_mapped_address_as_its_ipv4_address) {
  const auto geo = locator::open();
  EXPECT_EQ(geo->lookup("::ffff:77.88.8.8"), location{.country = "RU"});
}

TEST(GeoDebian, ignores_surrounding_whitespace) {
  const auto geo = locator::open();
  EXPECT_EQ(geo->lookup("  8.8.8.8 "), location{.country = "US"});
  EXPECT_EQ(geo->lookup("\t2001:4860:4860::8888\r\n"), location{.country = "US"});
}

TEST(GeoDebian, knows_no_country_for_private_and_reserved_ranges) {
  const auto geo = locator::open();
  for (const char* ip : {"10.0.0.1", "192.168.1.1", "172.16.0.1", "127.0.0.1", "0.0.0.0",
                         "255.255.255.255", "::1", "::", "fd00::1", "fe80::1"}) {
    EXPECT_EQ(geo->lookup(ip), std::nullopt) << ip;
  }
}

TEST(GeoDebian, refuses_what_is_not_an_address) {
  const auto geo = locator::open();
  for (const char* text :
       {"not-an-ip", "", "   ", "8.8.8", "8.8.8.8.8", "8.8.8.256", "08.8.8.8", "8.8.8.8/32",
        "8.8.8.8:53", "8.8.8.8 8.8.4.4", "[2001:4860:4860::8888]", "2001:4860:4860::8888%eth0",
        "2001:4860:4860:::8888", "dns.google", "0x08080808", "134744072"}) {
    EXPECT_EQ(geo->lookup(text), std::nullopt) << '"' << text << '"';
  }
  // A NUL would end the address early for a C parser.
  EXPECT_EQ(geo->lookup(std::string_view("8.8.8.8\0garbage", 15)), std::nullopt);
  EXPECT_EQ(geo->lookup(std::string(200, '1')), std::nullopt);
}

TEST(GeoDebian, describes_both_files) {
  const std::string text = locator::open()->describe();
  EXPECT_NE(text.find(herald::geo::debian_ipv4_database), std::string::npos) << text;
  EXPECT_NE(text.find(herald::geo::debian_ipv6_database), std::string::npos) << text;
  EXPECT_EQ(text.find("Copyright"), std::string::npos) << text;
}

TEST(GeoDebian, answers_the_same_from_several_threads) {
  const auto geo = locator::open();
  const std::vector<std::pair<std::string, std::optional<location>>> cases = {
      {"8.8.8.8", location{.country = "US"}},
      {"77.88.8.8", location{.country = "RU"}},
      {"2001:4860:4860::8888", location{.country = "US"}},
      {"10.0.0.1", std::nullopt},
  };
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < mismatches.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20000; ++i) {
        const auto& [ip, expected] = cases[(t + i) % cases.size()];
        if (geo->lookup(ip) != expected) ++mismatches[t];
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int m : mismatches) EXPECT_EQ(m, 0);
}

TEST(GeoDebian, names_a_missing_legacy_file) {
  herald::test::temp_dir dir;
  const auto missing = dir / "GeoIP.dat";
  const std::string message =
      open_error([&] { locator::open_legacy(missing, herald::geo::debian_ipv6_database); });
  EXPECT_NE(message.find(missing.string()), std::string::npos) << message;
  EXPECT_NE(message.find("No such file"), std::string::npos) << message;
}

TEST(GeoDebian, refuses_a_v6_database_where_the_v4_one_goes) {
  const std::string message = open_error([] {
    locator::open_legacy(herald::geo::debian_ipv6_database, herald::geo::debian_ipv6_database);
  });
  EXPECT_NE(message.find(herald::geo::debian_ipv6_database), std::string::npos) << message;
}

// --- MaxMind DB ---------------------------------------------------------------------------------

// Just enough of a MaxMind DB writer (https://maxmind.github.io/MaxMind-DB/) for these tests:
// an IPv6 tree with 24-bit records, IPv4 networks under ::/96, and the data types the GeoIP2
// layout and the metadata use.
namespace mmdb {

std::string control(int type, std::size_t size) {
  std::string out(1, static_cast<char>((type <= 7 ? type : 0) << 5));
  std::string size_bytes;
  if (size < 29) {
    out[0] = static_cast<char>(out[0] | size);
  } else if (size < 29 + 256) {
    out[0] = static_cast<char>(out[0] | 29);
    size_bytes += static_cast<char>(size - 29);
  } else {
    out[0] = static_cast<char>(out[0] | 30);
    size -= 285;
    size_bytes += static_cast<char>(size >> 8);
    size_bytes += static_cast<char>(size & 0xff);
  }
  if (type > 7) out += static_cast<char>(type - 7);  // extended type
  return out + size_bytes;
}

std::string string(std::string_view s) {
  return control(2, s.size()) + std::string(s);
}

std::string unsigned_int(int type, std::uint64_t value) {  // type 5 uint16, 6 uint32, 9 uint64
  std::string digits;
  for (; value != 0; value >>= 8) digits.insert(digits.begin(), static_cast<char>(value & 0xff));
  return control(type, digits.size()) + digits;
}

std::string map(const std::vector<std::pair<std::string, std::string>>& entries) {
  std::string out = control(7, entries.size());
  for (const auto& [key, value] : entries) out += string(key) + value;
  return out;
}

std::string array(const std::vector<std::string>& items) {
  std::string out = control(11, items.size());
  for (const auto& item : items) out += item;
  return out;
}

struct network {
  std::array<std::uint8_t, 16> prefix;
  int bits;
  std::string data;  // an encoded map
};

// An IPv4 network as IPv6: ::a.b.c.d/(96 + bits).
network v4(std::array<std::uint8_t, 4> prefix, int bits, std::string data) {
  network n{.prefix = {}, .bits = 96 + bits, .data = std::move(data)};
  std::copy(prefix.begin(), prefix.end(), n.prefix.begin() + 12);
  return n;
}

// The whole file: search tree, 16-byte separator, data section, metadata. Networks must not
// overlap.
std::string database(const std::vector<network>& networks) {
  enum class kind { empty, node, data };
  struct record {
    kind k = kind::empty;
    std::size_t value = 0;  // node index or data offset
  };
  std::vector<std::array<record, 2>> nodes(1);
  std::string data;
  for (const auto& n : networks) {
    std::size_t node = 0;
    for (int depth = 0; depth < n.bits; ++depth) {
      const int bit = (n.prefix[depth / 8] >> (7 - depth % 8)) & 1;
      if (depth == n.bits - 1) {
        nodes[node][bit] = {kind::data, data.size()};
      } else {
        if (nodes[node][bit].k != kind::node) {
          nodes[node][bit] = {kind::node, nodes.size()};
          nodes.emplace_back();
        }
        node = nodes[node][bit].value;
      }
    }
    data += n.data;
  }

  const std::size_t node_count = nodes.size();
  std::string out;
  for (const auto& node : nodes) {
    for (const record& r : node) {
      const std::size_t value = r.k == kind::node   ? r.value
                                : r.k == kind::data ? node_count + 16 + r.value
                                                    : node_count;
      out += static_cast<char>((value >> 16) & 0xff);
      out += static_cast<char>((value >> 8) & 0xff);
      out += static_cast<char>(value & 0xff);
    }
  }
  out += std::string(16, '\0');
  out += data;
  out += "\xAB\xCD\xEFMaxMind.com";
  out += map({
      {"binary_format_major_version", unsigned_int(5, 2)},
      {"binary_format_minor_version", unsigned_int(5, 0)},
      {"build_epoch", unsigned_int(9, 1700000000)},  // 2023-11-14
      {"database_type", string("Herald-Test-City")},
      {"description", map({{"en", string("herald geo unit test")}})},
      {"ip_version", unsigned_int(5, 6)},
      {"languages", array({string("en")})},
      {"node_count", unsigned_int(6, node_count)},
      {"record_size", unsigned_int(5, 24)},
  });
  return out;
}

std::string names(std::string_view en) {
  return map({{"en", string(en)}});
}

}  // namespace mmdb

// A GeoIP2-City-shaped database:
//   198.51.100.0/24  DE, Land Berlin, Berlin (with names in other languages too)
//   203.0.113.0/24   only a registered country: JP
//   192.0.2.0/24     only a continent
//   2001:db8::/32    FR and Paris, no subdivision
class GeoMmdb : public ::testing::Test {
 protected:
  void SetUp() override {
    using namespace mmdb;
    const std::string berlin = map({
        {"city", map({{"geoname_id", unsigned_int(6, 2950159)},
                      {"names", map({{"de", string("Berlin")}, {"en", string("Berlin")}})}})},
        {"continent", map({{"code", string("EU")}})},
        {"country", map({{"iso_code", string("DE")}, {"names", names("Germany")}})},
        {"registered_country", map({{"iso_code", string("DE")}})},
        {"subdivisions",
         array({map({{"iso_code", string("BE")},
                     {"names", map({{"de", string("Berlin")}, {"en", string("Land Berlin")}})}})})},
    });
    const std::string registered_only =
        map({{"registered_country", map({{"iso_code", string("JP")}})}});
    const std::string continent_only = map({{"continent", map({{"code", string("EU")}})}});
    const std::string paris = map({
        {"city", map({{"names", names("Paris")}})},
        {"country", map({{"iso_code", string("FR")}})},
    });
    std::array<std::uint8_t, 16> doc{0x20, 0x01, 0x0d, 0xb8};
    write_file(path_, database({
                          v4({198, 51, 100, 0}, 24, berlin),
                          v4({203, 0, 113, 0}, 24, registered_only),
                          v4({192, 0, 2, 0}, 24, continent_only),
                          {.prefix = doc, .bits = 32, .data = paris},
                      }));
  }

  herald::test::temp_dir dir_;
  std::filesystem::path path_ = dir_ / "test-city.mmdb";
};

TEST_F(GeoMmdb, gives_country_region_and_city) {
  const auto geo = locator::open(path_);
  EXPECT_EQ(geo->lookup("198.51.100.7"),
            (location{.country = "DE", .region = "Land Berlin", .city = "Berlin"}));
  EXPECT_EQ(geo->lookup(" 198.51.100.255\n"),
            (location{.country = "DE", .region = "Land Berlin", .city = "Berlin"}));
  EXPECT_EQ(geo->lookup("::ffff:198.51.100.7"),
            (location{.country = "DE", .region = "Land Berlin", .city = "Berlin"}));
}

TEST_F(GeoMmdb, finds_ipv6_networks) {
  const auto geo = locator::open(path_);
  EXPECT_EQ(geo->lookup("2001:db8::1"), (location{.country = "FR", .city = "Paris"}));
  EXPECT_EQ(geo->lookup("2001:db8:ffff::1"), (location{.country = "FR", .city = "Paris"}));
  EXPECT_EQ(geo->lookup("2001:db9::1"), std::nullopt);
}

TEST_F(GeoMmdb, falls_back_to_the_registered_country) {
  EXPECT_EQ(locator::open(path_)->lookup("203.0.113.9"), location{.country = "JP"});
}

TEST_F(GeoMmdb, knows_no_location_without_a_country) {
  const auto geo = locator::open(path_);
  EXPECT_EQ(geo->lookup("192.0.2.1"), std::nullopt);  // a continent only
  EXPECT_EQ(geo->lookup("198.51.101.1"), std::nullopt);
  EXPECT_EQ(geo->lookup("10.0.0.1"), std::nullopt);
  EXPECT_EQ(geo->lookup("not-an-ip"), std::nullopt);
}

TEST_F(GeoMmdb, describes_the_file_and_its_type) {
  const std::string text = locator::open(path_)->describe();
  EXPECT_NE(text.find(path_.string()), std::string::npos) << text;
  EXPECT_NE(text.find("Herald-Test-City"), std::string::npos) << text;
  EXPECT_NE(text.find("2023-11-14"), std::string::npos) << text;
}

TEST_F(GeoMmdb, names_a_missing_file) {
  const auto missing = dir_ / "GeoLite2-City.mmdb";
  const std::string message = open_error([&] { locator::open(missing); });
  EXPECT_NE(message.find(missing.string()), std::string::npos) << message;
  EXPECT_NE(message.find("No such file"), std::string::npos) << message;
}

TEST_F(GeoMmdb, names_a_file_that_is_not_a_maxmind_database) {
  // Debian's legacy database is a GeoIP file, but not a MaxMind DB.
  std::string message = open_error([] { locator::open(herald::geo::debian_ipv4_database); });
  EXPECT_NE(message.find(herald::geo::debian_ipv4_database), std::string::npos) << message;

  const auto garbage = dir_ / "garbage.mmdb";
  write_file(garbage, "not a database");
  message = open_error([&] { locator::open(garbage); });
  EXPECT_NE(message.find(garbage.string()), std::string::npos) << message;
}

}  // namespace
