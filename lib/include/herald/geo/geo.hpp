// GeoIP for profile import's detect_geo: the country and, where the database has them, the
// region and city of an IP address, from Debian's legacy GeoIP country databases or from a
// MaxMind DB (.mmdb) file an operator points at.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace herald::geo {

// What detect_geo writes into a profile's `_country`, `_region` and `_city`.
struct location {
  std::string country;  // ISO 3166-1 alpha-2 code in upper case ("US"); never empty
  std::string region;   // English name of the first subdivision ("California"), or empty
  std::string city;     // English name ("Mountain View"), or empty

  bool operator==(const location&) const = default;
};

// Where Debian's geoip-database package installs its country databases.
inline constexpr const char* debian_ipv4_database = "/usr/share/GeoIP/GeoIP.dat";
inline constexpr const char* debian_ipv6_database = "/usr/share/GeoIP/GeoIPv6.dat";

// An opened GeoIP database. Immutable once opened: lookup() may be called from any number of
// threads at once.
class locator {
 public:
  virtual ~locator() = default;

  // Empty `mmdb`: Debian's legacy country databases (open_legacy() with its defaults), which
  // know countries only. Otherwise the MaxMind DB file `mmdb` (GeoIP2/GeoLite2 Country or City,
  // or any database with their layout). Throws std::runtime_error naming the file when it
  // cannot be opened or is not such a database.
  static std::shared_ptr<const locator> open(const std::filesystem::path& mmdb = {});

  // Legacy GeoIP country databases (GeoIP.dat format), one for IPv4 and one for IPv6, mapped
  // into memory. Throws std::runtime_error naming the file that cannot be opened or is not a
  // country database.
  static std::shared_ptr<const locator> open_legacy(
      const std::filesystem::path& ipv4 = debian_ipv4_database,
      const std::filesystem::path& ipv6 = debian_ipv6_database);

  // Where the IPv4 or IPv6 address `ip` (text, surrounding whitespace ignored; an IPv4-mapped
  // IPv6 address counts as its IPv4 address) is. Nothing when `ip` is not an address, or the
  // database does not place it in a country (private and reserved ranges, networks known
  // only by continent, anonymous proxies).
  virtual std::optional<location> lookup(std::string_view ip) const = 0;

  // The database file(s) and their editions, for the startup log.
  virtual std::string describe() const = 0;
};

}  // namespace herald::geo
