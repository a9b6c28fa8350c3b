#include "herald/geo/geo.hpp"

#include <GeoIP.h>
#include <arpa/inet.h>
#include <maxminddb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <initializer_list>
#include <mutex>
#include <stdexcept>
#include <string>

namespace herald::geo {

namespace {

// An address parsed from text; an IPv4-mapped IPv6 address (::ffff:a.b.c.d) becomes IPv4, so
// both kinds of database answer for it from their IPv4 data.
struct ip_address {
  int family = AF_UNSPEC;  // AF_INET or AF_INET6
  in_addr v4{};
  in6_addr v6{};
};

std::optional<ip_address> parse_address(std::string_view text) {
  constexpr std::string_view blanks = " \t\r\n";
  const auto first = text.find_first_not_of(blanks);
  if (first == std::string_view::npos) return std::nullopt;
  text = text.substr(first, text.find_last_not_of(blanks) - first + 1);
  // inet_pton wants a C string: a NUL inside would hide what follows it.
  std::array<char, INET6_ADDRSTRLEN> buffer{};
  if (text.size() >= buffer.size() || text.find('\0') != std::string_view::npos) {
    return std::nullopt;
  }
  text.copy(buffer.data(), text.size());

  ip_address address;
  if (::inet_pton(AF_INET, buffer.data(), &address.v4) == 1) {
    address.family = AF_INET;
  } else if (::inet_pton(AF_INET6, buffer.data(), &address.v6) == 1) {
    address.family = AF_INET6;
    if (IN6_IS_ADDR_V4MAPPED(&address.v6)) {
      address.family = AF_INET;
      std::memcpy(&address.v4, &address.v6.s6_addr[12], sizeof address.v4);
    }
  } else {
    return std::nullopt;
  }
  return address;
}

// Whether a database's country code is an ISO 3166-1 alpha-2 code. Legacy GeoIP also answers
// with codes for no country: "--" (unknown), A1 (anonymous proxy), A2 (satellite provider),
// O1 (other), AP (Asia/Pacific), EU (Europe).
bool is_country_code(std::string_view code) {
  if (code.size() != 2) return false;
  for (char c : code) {
    if (c < 'A' || c > 'Z') return false;
  }
  for (std::string_view pseudo : {"A1", "A2", "O1", "AP", "EU"}) {
    if (code == pseudo) return false;
  }
  return true;
}

std::string system_reason(int error) {
  return std::strerror(error);
}

// --- Legacy GeoIP (.dat) -----------------------------------------------------------------------

struct geoip_delete {
  void operator()(GeoIP* gi) const { GeoIP_delete(gi); }
};

// One legacy country database, mapped into memory (GEOIP_MMAP_CACHE: only the pages lookups touch
// count in heraldd's RSS, where GEOIP_MEMORY_CACHE would copy all 10 MB of Debian's two files; no
// GEOIP_CHECK_CACHE, whose reload from inside a lookup is not thread safe).
class legacy_database {
 public:
  legacy_database(const std::filesystem::path& file, std::initializer_list<int> editions)
      : file_(file) {
    const std::string name = file.string();
    // libGeoIP does not say why an open failed; access() does, for the usual causes.
    if (::access(name.c_str(), R_OK) != 0) {
      throw std::runtime_error("cannot open the GeoIP database " + name + ": "
                               + system_reason(errno)
                               + " (Debian installs it with the geoip-database package)");
    }
    gi_.reset(GeoIP_open(name.c_str(), GEOIP_MMAP_CACHE | GEOIP_SILENCE));
    if (!gi_) {
      throw std::runtime_error("cannot open the GeoIP database " + name
                               + ": not a legacy GeoIP database (GeoIP.dat format)");
    }
    const int edition = GeoIP_database_edition(gi_.get());
    bool expected = false;
    for (int e : editions) expected = expected || edition == e;
    if (!expected) {
      throw std::runtime_error("cannot use the GeoIP database " + name + ": it holds "
                               + edition_name(edition) + ", not "
                               + edition_name(*editions.begin()));
    }
    if (char* info = GeoIP_database_info(gi_.get())) {
      info_ = info;
      std::free(info);
      // "GEO-106FREE 20191224 Build 1 Copyright (c) ...": the copyright adds nothing to a log.
      if (const auto c = info_.find(" Copyright"); c != std::string::npos) info_.resize(c);
    }
  }

  // Lookups are serialised: libGeoIP 1.6.12 writes the handle's `netmask` field on every
  // lookup, the `_gl` functions included (_GeoIP_seek_record_gl), so concurrent lookups on one
  // handle are a data race.
  std::optional<std::string> country(const in_addr& v4) const {
    GeoIPLookup gl{};
    std::lock_guard lock(mutex_);
    return code(GeoIP_id_by_ipnum_gl(gi_.get(), ntohl(v4.s_addr), &gl));
  }

  std::optional<std::string> country(const in6_addr& v6) const {
    GeoIPLookup gl{};
    std::lock_guard lock(mutex_);
    return code(GeoIP_id_by_ipnum_v6_gl(gi_.get(), v6, &gl));
  }

  std::string describe() const {
    return info_.empty() ? file_.string() : file_.string() + " (" + info_ + ")";
  }

 private:
  static std::optional<std::string> code(int id) {
    const char* code = id > 0 ? GeoIP_code_by_id(id) : nullptr;
    if (code == nullptr || !is_country_code(code)) return std::nullopt;
    return std::string(code);
  }

  static std::string edition_name(int edition) {
    const char* name =
        edition >= 0 && edition < NUM_DB_TYPES ? GeoIPDBDescription[edition] : nullptr;
    return name != nullptr ? name : "GeoIP edition " + std::to_string(edition);
  }

  std::filesystem::path file_;
  std::unique_ptr<GeoIP, geoip_delete> gi_;
  std::string info_;
  mutable std::mutex mutex_;
};

class legacy_locator final : public locator {
 public:
  legacy_locator(const std::filesystem::path& ipv4, const std::filesystem::path& ipv6)
      : v4_(ipv4, {GEOIP_COUNTRY_EDITION, GEOIP_LARGE_COUNTRY_EDITION}),
        v6_(ipv6, {GEOIP_COUNTRY_EDITION_V6, GEOIP_LARGE_COUNTRY_EDITION_V6}) {}

  std::optional<location> lookup(std::string_view ip) const override {
    const auto address = parse_address(ip);
    if (!address) return std::nullopt;
    auto country = address->family == AF_INET ? v4_.country(address->v4) : v6_.country(address->v6);
    if (!country) return std::nullopt;
    return location{.country = std::move(*country)};
  }

  std::string describe() const override {
    return "legacy GeoIP country databases " + v4_.describe() + ", " + v6_.describe();
  }

 private:
  legacy_database v4_;
  legacy_database v6_;
};

// --- MaxMind DB (.mmdb) ------------------------------------------------------------------------

// A MaxMind DB, memory-mapped. libmaxminddb's lookups only read the MMDB_s once it is open, so
// they need no lock.
class mmdb_locator final : public locator {
 public:
  explicit mmdb_locator(const std::filesystem::path& file) : file_(file) {
    const std::string name = file.string();
    errno = 0;
    const int status = MMDB_open(name.c_str(), MMDB_MODE_MMAP, &db_);
    const int error = errno;
    if (status != MMDB_SUCCESS) {
      std::string reason = MMDB_strerror(status);
      if ((status == MMDB_FILE_OPEN_ERROR || status == MMDB_IO_ERROR) && error != 0) {
        reason += ": " + system_reason(error);
      }
      throw std::runtime_error("cannot open the MaxMind database " + name + ": " + reason);
    }
  }
  mmdb_locator(const mmdb_locator&) = delete;
  mmdb_locator& operator=(const mmdb_locator&) = delete;
  ~mmdb_locator() override { MMDB_close(&db_); }

  std::optional<location> lookup(std::string_view ip) const override {
    const auto address = parse_address(ip);
    if (!address) return std::nullopt;

    sockaddr_in sin{};
    sockaddr_in6 sin6{};
    const sockaddr* sa = nullptr;
    if (address->family == AF_INET) {
      sin.sin_family = AF_INET;
      sin.sin_addr = address->v4;
      sa = reinterpret_cast<const sockaddr*>(&sin);
    } else {
      sin6.sin6_family = AF_INET6;
      sin6.sin6_addr = address->v6;
      sa = reinterpret_cast<const sockaddr*>(&sin6);
    }
    // An IPv6 address in an IPv4-only database is an error here, and simply not found for us;
    // so is a corrupt database: a lookup has no better answer to give.
    int error = MMDB_SUCCESS;
    MMDB_lookup_result_s result = MMDB_lookup_sockaddr(&db_, sa, &error);
    if (error != MMDB_SUCCESS || !result.found_entry) return std::nullopt;

    // The country the user is in; failing that (networks MaxMind places by registration only)
    // the country the network is registered in.
    std::string country = text(result.entry, {"country", "iso_code", nullptr});
    if (!is_country_code(country)) {
      country = text(result.entry, {"registered_country", "iso_code", nullptr});
    }
    if (!is_country_code(country)) return std::nullopt;
    // The region is the first (largest) subdivision's English name ("California", "England"),
    // not its ISO 3166-2 code ("CA" reads like a country code), to match the city's English
    // name.
    return location{.country = std::move(country),
                    .region = text(result.entry, {"subdivisions", "0", "names", "en", nullptr}),
                    .city = text(result.entry, {"city", "names", "en", nullptr})};
  }

  std::string describe() const override {
    std::string out = "MaxMind DB " + file_.string();
    const auto& meta = db_.metadata;
    out += " (";
    out += meta.database_type != nullptr ? meta.database_type : "unknown type";
    out += meta.ip_version == 6 ? ", IPv4 and IPv6" : ", IPv4 only";
    const auto built = static_cast<std::time_t>(meta.build_epoch);
    std::tm tm{};
    std::array<char, 16> date{};
    if (::gmtime_r(&built, &tm) != nullptr
        && std::strftime(date.data(), date.size(), "%Y-%m-%d", &tm) != 0) {
      out += ", built ";
      out += date.data();
    }
    return out + ")";
  }

 private:
  // The UTF-8 string at `path` under `entry`, or empty when there is none.
  static std::string text(MMDB_entry_s entry, std::initializer_list<const char*> path) {
    MMDB_entry_data_s data{};
    if (MMDB_aget_value(&entry, &data, path.begin()) != MMDB_SUCCESS || !data.has_data
        || data.type != MMDB_DATA_TYPE_UTF8_STRING) {
      return {};
    }
    return std::string(data.utf8_string, data.data_size);
  }

  std::filesystem::path file_;
  MMDB_s db_{};
};

}  // namespace

std::shared_ptr<const locator> locator::open(const std::filesystem::path& mmdb) {
  if (mmdb.empty()) return open_legacy();
  return std::make_shared<const mmdb_locator>(mmdb);
}

std::shared_ptr<const locator> locator::open_legacy(const std::filesystem::path& ipv4,
                                                    const std::filesystem::path& ipv6) {
  return std::make_shared<const legacy_locator>(ipv4, ipv6);
}

}  // namespace herald::geo
