#include "herald/profiles/import_handler.hpp"

#include <spdlog/spdlog.h>

#include <set>
#include <stdexcept>

#include "herald/geo/geo.hpp"
#include "herald/profiles/store.hpp"
#include "herald/queue/task_store.hpp"

namespace herald::profiles {

namespace asio = boost::asio;

namespace {

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : "; ") + s;
  return out;
}

class import_run final : public queue::prepared_job {
 public:
  import_run(import_body body, const import_settings& settings)
      : body_(std::move(body)), settings_(settings) {
    if (settings_.followup) followup_ = settings_.followup->prepare(body_);
  }

  std::uint64_t total() const override { return body_.items.size(); }

  void check_items() const override {
    for (std::size_t i = 0; i < body_.items.size(); ++i)
      if (auto item = read_import_item(body_, i); item.error)
        throw queue::bad_job("body." + std::string(item.error->what()));
  }

  asio::awaitable<queue::chunk_result> run(const queue::job_context& ctx, std::uint64_t begin,
                                           std::uint64_t end) override {
    if (!ctx.redis) throw std::logic_error("import_and_start needs the worker's Redis connection");
    profile_store store(*ctx.redis,
                        profile_keys(settings_.prefix, ctx.account, body_.options.db_id));
    queue::chunk_result result;
    result.processed = end - begin;

    // The chunk's items, read now (a job keeps only their text).
    std::vector<import_item> items;
    items.reserve(end - begin);
    std::vector<std::size_t> pending;
    for (auto i = begin; i < end; ++i) {
      items.push_back(read_import_item(body_, i));
      const auto& item = items.back();
      if (item.error)
        record(result, failed(item, item.error->code(), item.error->what()));
      else
        pending.push_back(items.size() - 1);
    }
    // Rounds: look every pending item up at once, then write, at once, those that do not depend
    // on an earlier item of the round; the rest (and writes another writer raced) go again.
    const std::size_t max_rounds = pending.size() + 16;
    std::vector<imported_profile> imported;
    for (std::size_t round = 0; !pending.empty(); ++round) {
      if (round == max_rounds)
        throw std::runtime_error("import: items kept conflicting with concurrent writers");
      pending = co_await run_round(store, items, pending, result, imported);
    }
    if (followup_) {
      co_await followup_->run(ctx, std::move(imported), result);
    } else if (!body_.options.skip_triggers && body_.options.trigger_id && begin == 0) {
      spdlog::warn("task {}: trigger {} not started: this worker runs no triggers", ctx.task_id,
                   *body_.options.trigger_id);
    }
    co_return result;
  }

 private:
  static queue::item_outcome failed(const import_item& item, std::string code,
                                    std::string message) {
    queue::item_outcome o;
    o.index = item.index;
    o.outcome = queue::item_outcome::kind::failed;
    o.code = std::move(code);
    o.message = std::move(message);
    return o;
  }

  static queue::item_outcome done(const import_item& item, const std::string& id, std::string code,
                                  const std::vector<std::string>& warnings) {
    queue::item_outcome o;
    o.index = item.index;
    o.outcome = queue::item_outcome::kind::processed;
    o.profile_id = id;
    o.code = std::move(code);
    o.message = join(warnings);
    return o;
  }

  static void record(queue::chunk_result& r, queue::item_outcome o) {
    if (o.outcome == queue::item_outcome::kind::failed) ++r.failed;
    r.outcomes.push_back(std::move(o));
  }

  void locate(profile& p, const import_item& item, std::vector<std::string>& warnings) const {
    if (!body_.options.detect_geo) return;
    std::string ip = item.update.geo_ip;
    for (const char* name : {"_regip", "_ip"}) {
      if (!ip.empty()) break;
      auto it = p.fields.find(name);
      if (it != p.fields.end())
        if (const auto* s = std::get_if<std::string>(&it->second)) ip = *s;
    }
    if (ip.empty()) return;
    if (!settings_.geo) {
      warnings.push_back("detect_geo: no geo database is configured");
      return;
    }
    auto where = settings_.geo->lookup(ip);
    if (!where) {
      warnings.push_back("detect_geo: " + ip + " is not in the geo database");
      return;
    }
    // A region and a city the lookup does not give are kept only within the same country: a
    // country-only database says nothing about them, but a move abroad ends them.
    auto was = p.fields.find("_country");
    if (was == p.fields.end() || was->second != field_value(where->country)) {
      p.fields.erase("_region");
      p.fields.erase("_city");
    }
    p.fields.insert_or_assign("_country", where->country);
    if (!where->region.empty()) p.fields.insert_or_assign("_region", where->region);
    if (!where->city.empty()) p.fields.insert_or_assign("_city", where->city);
  }

  // One round over `pending` (indexes into `items`): returns the items to run again.
  asio::awaitable<std::vector<std::size_t>> run_round(profile_store& store,
                                                      const std::vector<import_item>& items,
                                                      const std::vector<std::size_t>& pending,
                                                      queue::chunk_result& result,
                                                      std::vector<imported_profile>& imported) {
    std::vector<match_query> queries;
    queries.reserve(pending.size());
    for (auto i : pending) queries.push_back(items[i].query);
    auto found = co_await store.find_all(std::move(queries));

    // The writes of this round: items whose lookup no earlier write of the round can change.
    std::set<std::string, std::less<>> touched;
    std::vector<std::size_t> again;
    std::vector<write_op> writes;
    struct planned {
      std::size_t item;
      bool create;
      std::string id;
      std::vector<std::string> warnings;
      profile p;
    };
    std::vector<planned> plans;
    bool deferring = false;
    for (std::size_t n = 0; n < pending.size(); ++n) {
      const auto& item = items[pending[n]];
      const auto& match = found[n];
      auto plan = plan_lookup(item.query);
      std::vector<std::string> reads;
      for (const auto& g : plan) reads.insert(reads.end(), g.begin(), g.end());
      // "#<id>": the profile it updates (or, for profile_id, would).
      const std::string& target = match ? match->p.id : item.query.keys.profile_id;
      if (!target.empty()) reads.push_back("#" + target);
      bool depends = deferring;
      for (const auto& r : reads) depends = depends || touched.count(r);
      if (depends) {
        // Keep the items' order: once one waits, those after it wait too.
        deferring = true;
        again.push_back(pending[n]);
        continue;
      }
      if (!match && item.query.mode == match_mode::profile_id) {
        record(result, failed(item, "profile_not_found",
                              "data[" + std::to_string(item.index) + "].profile_id: no profile "
                                  + item.query.keys.profile_id + " in database "
                                  + std::to_string(body_.options.db_id)));
        continue;
      }
      profile next;
      const auto now = queue::now_ms();
      if (match) {
        next = match->p;
      } else {
        next.id = new_profile_id();
        next.created_at = now;
        add_match_keys(next, item.query, item.update);
      }
      std::vector<std::string> warnings = item.update.warnings;
      try {
        apply(next, item.update);
        check_profile_limits(next, settings_.limits, "data[" + std::to_string(item.index) + "]");
      } catch (const item_error& err) {
        record(result, failed(item, err.code(), err.what()));
        continue;
      }
      locate(next, item, warnings);
      if (!match && !finds(plan, next))
        warnings.push_back("the new profile cannot be found by this item's keys (matching \""
                           + std::string(to_string(item.query.mode))
                           + "\"; its data gives no such subscription or value): importing "
                             "the item again creates another");
      next.updated_at = now;
      if (match && next.same_content(match->p)) {
        // Nothing changes: no write.
        record(result, done(item, match->p.id, "unchanged", warnings));
        imported.push_back({result.outcomes.size() - 1, match->p, item.custom_data});
        touched.insert("#" + match->p.id);
        continue;
      }
      auto op = match ? write_op::make_update(*match, next)
                      : write_op::make_create(next, std::move(plan));
      touched.insert(reads.begin(), reads.end());
      touched.insert("#" + next.id);
      touched.insert(op.added.begin(), op.added.end());
      writes.push_back(std::move(op));
      plans.push_back(
          {pending[n], writes.back().create, next.id, std::move(warnings), std::move(next)});
    }
    if (!writes.empty()) {
      auto written = co_await store.write_all(std::move(writes));
      for (std::size_t n = 0; n < plans.size(); ++n) {
        const auto& item = items[plans[n].item];
        if (!written[n].ok) {
          again.push_back(plans[n].item);
          continue;
        }
        auto& plan = plans[n];
        record(result, done(item, plan.id, plan.create ? "created" : "updated", plan.warnings));
        imported.push_back({result.outcomes.size() - 1, std::move(plan.p), item.custom_data});
      }
    }
    std::sort(again.begin(), again.end());
    co_return again;
  }

  import_body body_;
  import_settings settings_;  // a copy: the job may outlive its handler
  std::unique_ptr<chunk_followup> followup_;
};

class import_handler final : public queue::job_handler {
 public:
  explicit import_handler(import_settings settings) : settings_(std::move(settings)) {}
  std::unique_ptr<queue::prepared_job> prepare(std::string_view body) const override {
    return std::make_unique<import_run>(parse_import_body(body, settings_.limits), settings_);
  }

 private:
  import_settings settings_;
};

}  // namespace

void add_import_handler(queue::handler_registry& registry, import_settings settings) {
  registry.add("import_and_start", std::make_shared<import_handler>(std::move(settings)));
}

}  // namespace herald::profiles
