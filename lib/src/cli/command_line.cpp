#include "herald/cli/command_line.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "herald/api/profile_lookup.hpp"
#include "herald/common/time.hpp"
#include "herald/config/daemon_config.hpp"

namespace herald::cli {

namespace {

// Which commands accept an option; `global` ones go with every command.
enum scope : unsigned {
  global = 0,
  for_enqueue = 1u << 0,
  for_status = 1u << 1,
  for_tasks = 1u << 2,
  for_queue_stats = 1u << 3,
  for_dead_list = 1u << 4,
  for_dead_retry = 1u << 5,
  for_profiles_get = 1u << 6,
  for_triggers_read = 1u << 7,  // triggers get and list
  for_providers = 1u << 8,
};

unsigned scope_of(command_kind kind) {
  switch (kind) {
    case command_kind::enqueue:
      return for_enqueue;
    case command_kind::status:
      return for_status;
    case command_kind::tasks:
      return for_tasks;
    case command_kind::queue_stats:
      return for_queue_stats;
    case command_kind::dead_list:
      return for_dead_list;
    case command_kind::dead_retry:
      return for_dead_retry;
    case command_kind::profiles_get:
      return for_profiles_get;
    case command_kind::triggers_get:
    case command_kind::triggers_list:
      return for_triggers_read;
    case command_kind::providers:
      return for_providers;
    default:
      return 0;
  }
}

struct option_spec {
  std::string_view name;  // without the leading "--"
  bool takes_value;
  unsigned scopes;
};

constexpr std::array<option_spec, 31> options{{
    {"help", false, global},
    {"version", false, global},
    {"redis-url", true, global},
    {"config", true, global},
    {"prefix", true, global},
    {"account", true, global},
    {"interval", true, for_enqueue | for_status},
    {"type", true, for_enqueue | for_tasks},
    {"status", true, for_tasks},
    {"since", true, for_tasks},
    {"until", true, for_tasks},
    {"task-id", true, for_enqueue},
    {"idempotency-key", true, for_enqueue},
    {"run-at", true, for_enqueue},
    {"wait", false, for_enqueue},
    {"watch", false, for_enqueue | for_status},
    {"json", false,
     for_status | for_tasks | for_queue_stats | for_dead_list | for_profiles_get | for_triggers_read
         | for_providers},
    {"limit", true, for_tasks | for_dead_list},
    {"all", false, for_dead_retry},
    {"db", true, for_profiles_get},
    {"matching", true, for_profiles_get},
    {"resource-id", true, for_profiles_get},
    {"email", true, for_profiles_get},
    {"phone", true, for_profiles_get},
    {"profile-id", true, for_profiles_get},
    {"field-name", true, for_profiles_get},
    {"field-value", true, for_profiles_get},
    {"subscription-id", true, for_profiles_get},
    {"channel", true, for_profiles_get},
    {"id", true, for_profiles_get},
    {"h", false, global},  // -h, the one short spelling
}};

const option_spec* find_option(std::string_view name) {
  for (const auto& o : options)
    if (o.name == name) return &o;
  return nullptr;
}

[[noreturn]] void usage(const std::string& what) {
  throw cli_error(exit_code::usage, what + " (herald --help lists commands and options)");
}

// "queued,processing": the non-empty words between commas; usage() when there is none.
std::vector<std::string> comma_list(const std::string& flag, std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    const auto comma = text.find(',');
    const auto word = text.substr(0, comma);
    if (!word.empty()) out.emplace_back(word);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  if (out.empty()) usage(flag + ": no value between the commas");
  return out;
}

std::uint64_t parse_limit(std::string_view text) {
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v == 0 || v > 10'000)
    usage("--limit: \"" + std::string(text) + "\" is not a whole number from 1 to 10000");
  return v;
}

std::chrono::milliseconds parse_interval(std::string_view text) {
  auto d = config::parse_duration(text);
  if (!d || *d < std::chrono::milliseconds(10) || *d > std::chrono::hours(1))
    usage("--interval: \"" + std::string(text)
          + "\" is not a duration from 10ms to 1h (e.g. 200ms, 2s)");
  return *d;
}

// "1700000000000-0" (or just the milliseconds), as XADD makes them.
bool is_stream_id(std::string_view id) {
  auto number = [](std::string_view n) {
    return !n.empty() && n.size() <= 20 && n.find_first_not_of("0123456789") == n.npos;
  };
  auto dash = id.find('-');
  if (dash == std::string_view::npos) return number(id);
  return number(id.substr(0, dash)) && number(id.substr(dash + 1));
}

// A whole number in [min, max] typed for `flag`; `what` says what it is in the usage error.
std::int64_t parse_integer(std::string_view flag, std::string_view text, std::int64_t min,
                           std::string_view what) {
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < min)
    usage(std::string(flag) + ": \"" + std::string(text) + "\" is not " + std::string(what));
  return v;
}

// The flag that gives a lookup's field, for errors: "profile_id" → "--profile-id".
std::string flag_of(std::string_view field) {
  if (field == "db_id") return "--db";
  if (field == "email or phone") return "--email or --phone";
  std::string flag = "--" + std::string(field);
  std::replace(flag.begin(), flag.end(), '_', '-');
  return flag;
}

// The mode the keys given imply when --matching is absent; nothing when there is no key, throws
// when they imply several.
std::optional<std::string> implied_matching(const api::profile_lookup& l) {
  std::vector<std::pair<std::string_view, std::string_view>> given;  // flag, mode
  if (l.email) given.emplace_back("--email", "email");
  if (l.phone) given.emplace_back("--phone", "phone");
  if (l.profile_id) given.emplace_back("--profile-id", "profile_id");
  if (l.field_name || l.field_value)
    given.emplace_back(l.field_name ? "--field-name" : "--field-value", "custom");
  if (l.subscription_id) given.emplace_back("--subscription-id", "push_sub");
  if (l.channel || l.id) given.emplace_back(l.channel ? "--channel" : "--id", "custom_sub");
  if (given.empty()) return std::nullopt;
  if (given.size() == 1) return std::string(given[0].second);
  if (given.size() == 2 && l.email && l.phone) return "email_phone";
  usage(std::string(given[0].first) + " and " + std::string(given[1].first)
        + ": give one key, or --matching to say how they combine");
}

struct given_option {
  const option_spec* spec;
  std::string value;
};

}  // namespace

std::string_view command_name(command_kind kind) {
  switch (kind) {
    case command_kind::help:
      return "help";
    case command_kind::version:
      return "version";
    case command_kind::enqueue:
      return "enqueue";
    case command_kind::status:
      return "status";
    case command_kind::tasks:
      return "tasks";
    case command_kind::cancel:
      return "cancel";
    case command_kind::queue_stats:
      return "queue stats";
    case command_kind::providers:
      return "providers";
    case command_kind::dead_list:
      return "dead list";
    case command_kind::dead_retry:
      return "dead retry";
    case command_kind::dead_purge:
      return "dead purge";
    case command_kind::profiles_get:
      return "profiles get";
    case command_kind::triggers_add:
      return "triggers add";
    case command_kind::triggers_update:
      return "triggers update";
    case command_kind::triggers_get:
      return "triggers get";
    case command_kind::triggers_list:
      return "triggers list";
    case command_kind::triggers_delete:
      return "triggers delete";
  }
  return "help";
}

command_line parse_command_line(std::span<const std::string_view> args) {
  std::vector<given_option> given;
  std::vector<std::string_view> words;
  bool options_ended = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view a = args[i];
    if (options_ended || a == "-" || !a.starts_with('-')) {
      words.push_back(a);
      continue;
    }
    if (a == "--") {
      options_ended = true;
      continue;
    }
    std::string_view name = a.substr(a.starts_with("--") ? 2 : 1);
    std::optional<std::string_view> inline_value;
    if (auto eq = name.find('='); eq != std::string_view::npos) {
      inline_value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    const option_spec* spec = find_option(name);
    if (!spec || (name == "h") != !a.starts_with("--"))
      usage("unknown option " + std::string(a.substr(0, a.find('='))));
    std::string value;
    if (spec->takes_value) {
      if (inline_value) {
        value = *inline_value;
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        usage("--" + std::string(name) + " needs a value");
      }
    } else if (inline_value) {
      usage("--" + std::string(name) + " takes no value");
    }
    given.push_back({spec, std::move(value)});
  }

  command_line cl;
  auto has = [&](std::string_view name) {
    return std::any_of(given.begin(), given.end(),
                       [&](const given_option& g) { return g.spec->name == name; });
  };
  if (has("help") || has("h")) {
    cl.command = command_kind::help;
    return cl;
  }
  if (has("version")) {
    cl.command = command_kind::version;
    return cl;
  }

  // The command: one word, or two for the queue and dead-letter groups.
  if (words.empty()) usage("no command given");
  std::string_view verb = words.front();
  std::size_t used = 1;
  auto second = [&](std::string_view group, std::initializer_list<std::string_view> subs) {
    std::string list;
    for (auto s : subs) list += (list.empty() ? "" : ", ") + std::string(s);
    if (words.size() < 2) usage("`herald " + std::string(group) + "` needs one of: " + list);
    used = 2;
    if (std::find(subs.begin(), subs.end(), words[1]) == subs.end())
      usage("`herald " + std::string(group) + " " + std::string(words[1])
            + "`: not a command; one of: " + list);
    return words[1];
  };
  if (verb == "enqueue") {
    cl.command = command_kind::enqueue;
  } else if (verb == "status") {
    cl.command = command_kind::status;
  } else if (verb == "tasks") {
    cl.command = command_kind::tasks;
  } else if (verb == "cancel") {
    cl.command = command_kind::cancel;
  } else if (verb == "queue") {
    second("queue", {"stats"});
    cl.command = command_kind::queue_stats;
  } else if (verb == "dead") {
    auto sub = second("dead", {"list", "retry", "purge"});
    cl.command = sub == "list"    ? command_kind::dead_list
                 : sub == "retry" ? command_kind::dead_retry
                                  : command_kind::dead_purge;
  } else if (verb == "profiles") {
    second("profiles", {"get"});
    cl.command = command_kind::profiles_get;
  } else if (verb == "triggers") {
    auto sub = second("triggers", {"add", "update", "get", "list", "delete"});
    cl.command = sub == "add"      ? command_kind::triggers_add
                 : sub == "update" ? command_kind::triggers_update
                 : sub == "get"    ? command_kind::triggers_get
                 : sub == "list"   ? command_kind::triggers_list
                                   : command_kind::triggers_delete;
  } else if (verb == "providers") {
    cl.command = command_kind::providers;
  } else if (verb == "help") {
    cl.command = command_kind::help;
    return cl;
  } else {
    usage("`" + std::string(verb)
          + "` is not a command; one of: enqueue, status, tasks, cancel, queue stats, dead list, "
            "dead retry, dead purge, profiles get, triggers add|update|get|list|delete, providers");
  }
  const std::string name = "`herald " + std::string(command_name(cl.command)) + "`";

  // Options, each checked against the command.
  const unsigned scope = scope_of(cl.command);
  std::vector<std::string_view> seen;
  bool limit_given = false;
  api::profile_lookup lookup;
  bool matching_given = false;
  for (const auto& g : given) {
    const std::string flag = "--" + std::string(g.spec->name);
    if (g.spec->scopes != global && (g.spec->scopes & scope) == 0)
      usage(flag + " is not an option of " + name);
    if (std::find(seen.begin(), seen.end(), g.spec->name) != seen.end())
      usage(flag + " is given twice");
    seen.push_back(g.spec->name);
    std::string_view n = g.spec->name;
    if (g.spec->takes_value && g.value.empty()) usage(flag + ": the value is empty");
    if (n == "redis-url")
      cl.redis_url = g.value;
    else if (n == "config")
      cl.config_file = g.value;
    else if (n == "prefix")
      cl.prefix = g.value;
    else if (n == "account")
      cl.account = g.value;
    else if (n == "interval")
      cl.interval = parse_interval(g.value);
    else if (n == "type" && cl.command == command_kind::tasks)
      for (const auto& t : comma_list(flag, g.value)) cl.task_filter.types.push_back(t);
    else if (n == "type")
      cl.type = g.value;
    else if (n == "status") {
      for (const auto& word : comma_list(flag, g.value)) {
        auto status = queue::parse_task_status(word);
        if (!status)
          usage(flag + ": \"" + word
                + "\" is not one of queued, processing, completed, failed, cancelled");
        cl.task_filter.statuses.push_back(*status);
      }
    } else if (n == "since" || n == "until") {
      auto at = parse_timestamp(g.value);
      if (!at)
        usage(flag + ": \"" + std::string(g.value)
              + "\" is not an ISO-8601 time (2026-11-23T05:00:00Z) or milliseconds since the "
                "epoch");
      (n == "since" ? cl.task_filter.created_from : cl.task_filter.created_to) = *at;
    } else if (n == "task-id")
      cl.task_id = g.value;
    else if (n == "idempotency-key")
      cl.idempotency_key = g.value;
    else if (n == "run-at")
      cl.run_at = g.value;
    else if (n == "wait")
      cl.wait = true;
    else if (n == "watch")
      cl.watch = true;
    else if (n == "json")
      cl.json = true;
    else if (n == "all")
      cl.all = true;
    else if (n == "limit") {
      cl.limit = parse_limit(g.value);
      limit_given = true;
    } else if (n == "db")
      lookup.db_id = parse_integer(flag, g.value, 1, "a positive integer (a profile database)");
    else if (n == "resource-id")
      lookup.resource_id = parse_integer(flag, g.value, 0, "a non-negative integer");
    else if (n == "matching") {
      lookup.matching = g.value;
      matching_given = true;
    } else if (n == "email")
      lookup.email = g.value;
    else if (n == "phone")
      lookup.phone = g.value;
    else if (n == "profile-id")
      lookup.profile_id = g.value;
    else if (n == "field-name")
      lookup.field_name = g.value;
    else if (n == "field-value")
      lookup.field_value = g.value;
    else if (n == "subscription-id")
      lookup.subscription_id = g.value;
    else if (n == "channel")
      lookup.channel = g.value;
    else if (n == "id")
      lookup.id = g.value;
  }
  if (!limit_given) cl.limit = cl.command == command_kind::dead_list ? 100 : 20;
  if (cl.wait && cl.watch) usage("--wait and --watch: give one (--watch also waits)");
  if (cl.command == command_kind::profiles_get) {
    if (!matching_given) {
      auto implied = implied_matching(lookup);
      if (!implied) {
        usage(name
              + " needs a key: --email, --phone, --profile-id, --field-name with --field-value, "
                "--subscription-id, or --channel with --id");
      }
      lookup.matching = std::move(*implied);
    }
    if (auto error = api::make_match_query(lookup, cl.profile_query)) {
      usage(flag_of(error->field) + ": " + error->reason);
    }
    cl.db_id = lookup.db_id;
  }

  // Arguments.
  std::vector<std::string_view> rest(words.begin() + static_cast<std::ptrdiff_t>(used),
                                     words.end());
  auto stray = [&](std::size_t from) {
    if (rest.size() > from)
      usage(name + " takes no argument `" + std::string(rest[from]) + "` here");
  };
  switch (cl.command) {
    case command_kind::enqueue:
      if (rest.empty()) usage(name + " needs a job file, or - for stdin");
      cl.file = rest[0];
      stray(1);
      break;
    case command_kind::status:
    case command_kind::cancel:
      if (rest.empty()) usage(name + " needs a task id");
      cl.id = rest[0];
      stray(1);
      break;
    case command_kind::triggers_add:
    case command_kind::triggers_update:
      if (rest.empty()) usage(name + " needs a trigger file, or - for stdin");
      cl.file = rest[0];
      stray(1);
      break;
    case command_kind::triggers_get:
    case command_kind::triggers_delete: {
      if (rest.empty()) usage(name + " needs a trigger id");
      cl.id = rest[0];
      stray(1);
      std::uint64_t v = 0;
      auto [end, ec] = std::from_chars(cl.id.data(), cl.id.data() + cl.id.size(), v);
      if (ec != std::errc() || end != cl.id.data() + cl.id.size() || v == 0)
        usage("trigger id \"" + cl.id + "\": not a positive integer");
      break;
    }
    case command_kind::dead_retry:
      if (cl.all) {
        stray(0);
      } else {
        if (rest.empty())
          usage(name + " needs a dead-letter id (from `herald dead list`) or --all");
        cl.id = rest[0];
        stray(1);
        if (!is_stream_id(cl.id))
          usage("dead-letter id \"" + cl.id
                + "\": not a stream entry id like 1700000000000-0 (see `herald dead list`)");
      }
      break;
    default:
      stray(0);
      break;
  }
  return cl;
}

std::string help_text() {
  return R"(herald: the command-line client of Herald's job queue. It talks to Redis directly, so
heraldd need not be reachable over HTTP; heraldd's workers do the work.

Usage:
  herald enqueue FILE|- [--type T] [--task-id ID] [--idempotency-key K] [--run-at WHEN]
                        [--wait | --watch] [--interval D]
  herald status ID [--watch] [--json] [--interval D]
  herald tasks [--status S[,S]] [--type T[,T]] [--since TIME] [--until TIME] [--limit N] [--json]
  herald cancel ID
  herald queue stats [--json]
  herald providers [--json]
  herald dead list [--limit N] [--json]
  herald dead retry ID | --all
  herald dead purge
  herald profiles get [--db N] [--matching MODE] [--resource-id R] [--json]
                      (--email X | --phone X | --profile-id X | --field-name F --field-value V
                       | --subscription-id X | --channel C --id X)
  herald triggers add FILE|- | update FILE|- | get ID [--json] | list [--json] | delete ID

Commands:
  enqueue FILE|-   Enqueue the job in FILE (- reads stdin) and print its task id. The file is
                   {"type": "noop", "body": {...}, "account"?, "task_id"?, "idempotency_key"?,
                   "run_at"?}; with --type T the whole file is the body. The body is validated
                   before anything is enqueued; a file over 10 MiB (max_job_bytes) or with a
                   key given twice is refused.
    --type T               the file is the body of a job of type T
    --task-id ID           the task's id (default: a new UUID)
    --idempotency-key K    enqueueing K again prints the earlier task's id, enqueues nothing
                           (1 to 200 characters)
    --run-at WHEN          not before WHEN: ms since the epoch, ISO-8601
                           (2026-11-23T05:00:00Z) or +DURATION from now (+30s, +5m); at
                           most 365 days ahead
    --wait                 wait until the task is finished; exit 0 completed, 1 otherwise
    --watch                like --wait, drawing its progress (one line per change when stdout
                           is not a terminal)
  status ID        The task's status, progress, counters and times (--json: the status reply
                   of the HTTP API). --watch follows it to the end like enqueue --watch.
  tasks            The account's most recent tasks, newest first (--limit, default 20);
                   --status and --type keep those of a status or type (several
                   comma-separated), --since and --until those created in that time
                   (ISO-8601 or ms since the epoch, both inclusive).
  cancel ID        Cancel the task; items already processed keep their outcomes. Prints the
                   task's status afterwards.
  queue stats      Stream length, pending, delayed, dead letters and consumers.
  providers        Each heraldd's messaging providers: kind, circuit state (closed, open,
                   half_open), rate limit, messages sent and failed, recent errors (as the
                   heraldd published them within the last 10 s).
  dead list        Dead letters, oldest first (--limit, default 100).
  dead retry       Put a dead letter (or --all of them) back on the queue.
  dead purge       Delete every dead letter.
  profiles get     The profile a lookup finds in the account's profile database --db (default
                   1): its id, times, fields and subscriptions (--json: the profile object of
                   POST /api/v1.1/profiles/get, proto/schemas/profile.schema.json). Where
                   several match, the earliest created.
    --email X              by email (matching email: the profile's email or an email
                           subscription)
    --phone X              by phone (matching phone: its phones or an sms subscription)
    --profile-id X         by id (matching profile_id)
    --field-name F --field-value V
                           by a custom field (matching custom); V "tag_1, tag_2" finds a
                           profile holding every tag of a tag field
    --subscription-id X    by a push subscription (matching push_sub)
    --channel C --id X     by a subscription's address on channel C (matching custom_sub)
    --matching MODE        how to match, when not the one the key implies: email,
                           email_profile, email_sub, phone, phone_sub, profile_id, push_sub,
                           custom, custom_sub, email_phone (--email and --phone together imply
                           it), email_phone_sub
    --resource-id R        only subscriptions of resource R count
  triggers add FILE|-     Add the account's trigger in FILE (- reads stdin): the trigger JSON of
                          proto/triggers.md. It is checked first, as heraldd checks it: the
                          fields, a provider of heraldd's configuration fitting the channel,
                          every template (a fault names the field, line and column). Prints the
                          id and version saved.
  triggers update FILE|-  The same for an existing trigger: saves its next version (tasks
                          already running keep the version they started with).
  triggers get ID         The trigger's current version (--json: the API's trigger object).
  triggers list           The account's triggers, by id (--json: one JSON array).
  triggers delete ID      Delete the trigger; tasks running it finish on their version.

Options (anywhere on the line):
  --redis-url URL  redis://[[user]:password@]host:port[/db] or unix:///path[?db=N]. Default:
                   $HERALD_REDIS_URL, else heraldd's configuration, where "embedded" means
                   unix://<state_dir>/redis/redis.sock.
  --config FILE    heraldd's configuration file (default: $HERALD_CONFIG, else
                   /etc/herald/heraldd.conf when readable), read with its HERALD_* variables.
  --prefix P       the Redis key prefix (default: the configuration's, "herald")
  --account A      the account (default: $HERALD_ACCOUNT, else "default")
  --interval D     how often --wait and --watch read the task (default 200ms)
  --help, -h       this text
  --version        herald's version

Exit codes:
  0  success
  1  --wait/--watch: the task failed or was cancelled (its error on stderr)
  2  a bad command line or invalid input (a bad job names the field); nothing was changed
  3  not found: no such task in the account, no such dead letter, no profile matches, or
     no such trigger in the account
  4  Redis unreachable, or Redis answered with an error
)";
}

std::string version_text() {
  return std::string("herald ") + HERALD_VERSION + "\n";
}

}  // namespace herald::cli
