//! The descriptions the schemas give each key: the words of the README's tables, kept equal to
//! them by `tests/e2e/schema.rs` (which fails when the two differ).

pub const CHANNEL: &[(&str, &str)] = &[
    ("type", "`slack`, `teams`, `email` or `webhook`"),
    (
        "url",
        "the webhook URL (`http://` or `https://`), or `file://DIR`",
    ),
    (
        "token",
        "instead of `url`: a Slack app's bot token and a channel ID (`C0123456789`) or `#name`, for [conversations](#conversations-one-message-per-quote)",
    ),
    (
        "channel",
        "instead of `url`: a Slack app's bot token and a channel ID (`C0123456789`) or `#name`, for [conversations](#conversations-one-message-per-quote)",
    ),
    (
        "api_url",
        "the Web API, `https://slack.com/api` by default; `file://DIR` writes each call's body there",
    ),
    (
        "timeout",
        "per attempt, `10s` by default (`500ms`, `30s`, `2m`)",
    ),
    (
        "failing_after",
        "how long every attempt to the channel may fail before herald raises `herald.channel.failing` (10 min by default; see [herald's own events](#heralds-own-events))",
    ),
    (
        "pace",
        "at most `N/s` or `N/m` messages, or `off`; default `1/s` for Slack, `4/s` for Teams, `off` otherwise",
    ),
    (
        "retry",
        "`delays` (a list), `then`, `give_up_after`: see [Delivery](#delivery-durable-retried-replayable)",
    ),
    ("method", "`POST` (default), `PUT` or `PATCH`"),
    (
        "headers",
        "a mapping of header names to values, e.g. `Authorization: \"Bearer ${ERP_TOKEN}\"`",
    ),
    (
        "smtp",
        "`smtps://user:pass@host:465` (TLS), `smtp://user:pass@host:587` (STARTTLS, required), `smtp://127.0.0.1:2525` (plain: only to a loopback address), or `file://DIR`",
    ),
    ("from", "the sender, `Name <address>` or `address`"),
    (
        "to",
        "one address or a list; an entry with `{{…}}` is a template that gives an address for each event, such as `\"{{owner.email}}\"` (see [People from the CRM](#people-from-the-crm-recipients-and-mentions))",
    ),
    (
        "cc",
        "one address or a list; an entry with `{{…}}` is a template that gives an address for each event, such as `\"{{owner.email}}\"` (see [People from the CRM](#people-from-the-crm-recipients-and-mentions))",
    ),
    (
        "allowed_domains",
        "the domains mail may go to, such as `[example.com]` (each allows its subdomains); every address, written or made from CRM data, is held against it when the message is sent, and `check` refuses a written one outside it. Recommended as soon as a recipient comes from the CRM",
    ),
    ("reply_to", "one address"),
    (
        "subject",
        "the subject for inline `text:` actions (default `{{Event}} {{PrimaryKey}}`)",
    ),
    (
        "digest",
        "defaults for every action on the channel: see [Less noise](#less-noise-digests-working-hours-and-throttles)",
    ),
    (
        "throttle",
        "defaults for every action on the channel: see [Less noise](#less-noise-digests-working-hours-and-throttles)",
    ),
    (
        "active_hours",
        "defaults for every action on the channel: see [Less noise](#less-noise-digests-working-hours-and-throttles)",
    ),
];

pub const RULE: &[(&str, &str)] = &[
    ("name", "unique; appears in logs and as `{{rule.name}}`"),
    ("description", "optional text for people"),
    (
        "events",
        "an event name (`quote.ordered`), a glob (`quote.*`, `*.deleted`), or a list of them",
    ),
    ("when", "optional list of conditions; every one must hold"),
    (
        "notify",
        "list of actions: `channel` and either `template` or `text`",
    ),
    (
        "stop",
        "`true`: if this rule matches, no later rule is evaluated for the event",
    ),
];

pub const ACTION: &[(&str, &str)] = &[
    ("channel", "a channel's name"),
    ("template", "a folder in `templates/`"),
    (
        "text",
        "an inline template instead; herald builds the destination's default message around it",
    ),
    ("subject", "email only, with `text`: the subject template"),
    (
        "to",
        "email only: recipients (addresses or templates) that replace the channel's `to` or `cc`",
    ),
    (
        "cc",
        "email only: recipients (addresses or templates) that replace the channel's `to` or `cc`",
    ),
    (
        "conversation",
        "one conversation per key (a quote): `{ key: \"quote-{{PrimaryKey}}\", mode: update }`: see [Conversations](#conversations-one-message-per-quote)",
    ),
    (
        "digest",
        "fold, limit or hold this action's messages (the action's own setting wins over its channel's): see [Less noise](#less-noise-digests-working-hours-and-throttles)",
    ),
    (
        "throttle",
        "fold, limit or hold this action's messages (the action's own setting wins over its channel's): see [Less noise](#less-noise-digests-working-hours-and-throttles)",
    ),
    (
        "active_hours",
        "fold, limit or hold this action's messages (the action's own setting wins over its channel's): see [Less noise](#less-noise-digests-working-hours-and-throttles)",
    ),
];

pub const CONDITION: &[(&str, &str)] = &[
    ("equals", "equals the value (`527331` equals `\"527331\"`)"),
    (
        "not_equals",
        "equals the value (`527331` equals `\"527331\"`)",
    ),
    ("in", "is one of a list"),
    ("not_in", "is one of a list"),
    (
        "contains",
        "contains a substring, or has the value as an element of a list",
    ),
    ("starts_with", "starts or ends with a text"),
    ("ends_with", "starts or ends with a text"),
    (
        "matches",
        "matches a regular expression ([Rust syntax](https://docs.rs/regex)); `(?i)` for any case. A pattern may compile to at most 256 KiB and a file's patterns to 4 MiB together (`\\w{200}`, Unicode's word class 200 times, is refused by `check`)",
    ),
    ("exists", "is present (`true`) or absent (`false`)"),
    (
        "gt",
        "compares as a number, or as a time when the value is a time (`2026-01-31`, `2026-01-31T12:00:00Z`)",
    ),
    (
        "gte",
        "compares as a number, or as a time when the value is a time (`2026-01-31`, `2026-01-31T12:00:00Z`)",
    ),
    (
        "lt",
        "compares as a number, or as a time when the value is a time (`2026-01-31`, `2026-01-31T12:00:00Z`)",
    ),
    (
        "lte",
        "compares as a number, or as a time when the value is a time (`2026-01-31`, `2026-01-31T12:00:00Z`)",
    ),
];

pub const NOISE: &[(&str, &str)] = &[
    (
        "`digest: { window: 10m }`",
        "collect for this long after the first event of a group, then send one message",
    ),
    (
        "`digest: { at: [\"08:00\", \"13:00\"], timezone: Europe/Oslo, days: [mon, …] }`",
        "collect until the next of these times (every day when `days` is absent)",
    ),
    (
        "`digest.key`",
        "a template: one digest per value, e.g. `\"{{ContextIdentifier}}\"`, `\"{{owner.FullName}}\"` (one for all when absent)",
    ),
    (
        "`digest.max`",
        "send early once this many are collected. Whatever `max` says, a digest is also sent early once the events it collected reach 4 MiB together, so no digest holds or renders without bound",
    ),
    (
        "`digest.first: now`",
        "send the first event of a group at once, digest the rest of the window",
    ),
    (
        "`throttle: { key, at_most, per }`",
        "at most `at_most` messages per key in `per`; the rest of the period is folded into one digest sent when it ends",
    ),
    (
        "`active_hours: { timezone, days, from, to }`",
        "outside these hours messages are held, and sent when they next open: one by one, or as one digest with `digest:`. A list of such spans is allowed. A span past midnight says so: `from: \"22:00\", to: \"06:00+1\"`; `to: \"24:00\"` is the end of the day. `days` (here and in `digest: { at }`) takes `mon` … `sun`, `monday` … `sunday`, and ranges: `[mon-fri]`, `[fri-mon]` (over the week's end); anything else is refused by `check` with its position",
    ),
];

pub const CONVERSATION: &[(&str, &str)] = &[
    (
        "key",
        "a template naming the conversation: `\"quote-{{PrimaryKey}}\"`, or with enrichment `\"quote-{{quote.QuoteId}}\"`",
    ),
    (
        "mode",
        "`update` (default): later messages edit the first, so the channel shows one up-to-date message per quote. `thread`: later messages reply in the first one's thread. `update_and_thread`: both: the first shows the latest state, the thread has every step",
    ),
    (
        "broadcast",
        "`true`: thread replies are also shown in the channel (Slack's `reply_broadcast`)",
    ),
    (
        "keep",
        "how long a conversation is remembered after its last message (`90d` by default); after that the next step starts a new one",
    ),
];

pub const TEST_CASE: &[(&str, &str)] = &[
    (
        "name",
        "the case, as the output names it (`--filter` picks cases by part of it)",
    ),
    (
        "event",
        "a saved event (a path relative to the test file), or the event inline",
    ),
    (
        "api_responses",
        "a folder of saved SuperOffice answers, laid out as `examples/api/` is (`Agents/Quote/GetQuoteEntity/ID.json`, `Sale/ID.json`, …). Without it a case runs without enrichment: a test never calls the network",
    ),
    (
        "env",
        "`${VAR}` values for this case, before the environment",
    ),
    (
        "at",
        "the time the case pretends it is (with its offset), for working hours, digests and `date`",
    ),
    (
        "expect.matched",
        "exactly these rules match, in this order (`[]`: none). A rule whose enriched condition fails after enrichment is not matched",
    ),
    (
        "expect.deliveries",
        "messages that must be made, by `channel` (and `template`): `contains` / `not_contains` (texts the reader sees: every string of a JSON body, or an email's subject, text and HTML), `json` (JSON Pointer, RFC 6901, to an exact value), `subject` (email), `decision` (`now`, `held` or `digest`)",
    ),
    ("expect.not_delivered", "channels that must get nothing"),
];

pub const SUPEROFFICE: &[(&str, &str)] = &[
    (
        "api",
        "the tenant's API root (`https://{env}.superoffice.com/{tenant}/api`, or your on-site `…/api`); with `auth.system_user` it may be left out: herald uses the ticket's `webapi_url`",
    ),
    (
        "tenant_lookup",
        "instead of `api`: the Online environment; the root is read from `/api/state/{ContextIdentifier}`, kept until its `ValidUntil`, and looked up again when the API answers `421`",
    ),
    (
        "tenant",
        "your ContextIdentifier (`Cust12345`): required with `auth.system_user` (SuperOffice issues a ticket for one tenant); with `tenant_lookup`, the tenant whose webhook `herald superoffice` and the watchdog manage",
    ),
    (
        "auth.system_user",
        "SuperOffice Online's system user: `token` (the system user token), `private_key` (a file relative to the rules file: PEM, PKCS#1 or PKCS#8, or SuperOffice's RSA XML `<RSAKeyValue>`), `client_secret`, and optionally `login` (SuperOffice's login service; by default the one of the API's environment: `https://sod.superoffice.com/login` for `sod2.superoffice.com`). herald gets a ticket, renews it, and sends `Authorization: SOTicket …` with `SO-AppToken: …`",
    ),
    (
        "auth.oauth",
        "OAuth 2.0 for an app a person signed in to: `client_id`, `client_secret`, `refresh_token`, optionally `login`. herald gets access tokens from `{login}/common/oauth/tokens` and renews them; it needs `api` or `tenant_lookup`",
    ),
    (
        "auth.bearer",
        "a static OAuth access token: `Authorization: Bearer …` (on-site installations, tests)",
    ),
    (
        "auth.ticket",
        "a static system user ticket and your application's client secret (on-site installations, tests)",
    ),
    (
        "auth.app_token",
        "a static system user ticket and your application's client secret (on-site installations, tests)",
    ),
    (
        "timeout",
        "per call; how long answers are cached (5 s and 5 min by default); how many answers are kept at most (10,000: past it the oldest go; `herald_enrichment_cache_total{result=\"hit\"\\|\"miss\"\\|\"evicted\"}` and `herald_enrichment_cache_entries` show how it does)",
    ),
    (
        "cache_ttl",
        "per call; how long answers are cached (5 s and 5 min by default); how many answers are kept at most (10,000: past it the oldest go; `herald_enrichment_cache_total{result=\"hit\"\\|\"miss\"\\|\"evicted\"}` and `herald_enrichment_cache_entries` show how it does)",
    ),
    (
        "cache_size",
        "per call; how long answers are cached (5 s and 5 min by default); how many answers are kept at most (10,000: past it the oldest go; `herald_enrichment_cache_total{result=\"hit\"\\|\"miss\"\\|\"evicted\"}` and `herald_enrichment_cache_entries` show how it does)",
    ),
    (
        "web_url",
        "the web client's address for links back to SuperOffice (default: the API root without its `/api`; set it for on-site installations or with `tenant_lookup`)",
    ),
    (
        "on_enrichment_error",
        "`retry` (default): timeouts, `5xx`, connection errors and failed sign-ins are retried under the channel's retry policy for `retry_for` (15 min), then the message goes out without the data; `send_without`: at once",
    ),
];
