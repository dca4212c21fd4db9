# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_herald_global_optspecs
    string join \n log-format= h/help V/version
end

function __fish_herald_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_herald_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_herald_using_subcommand
    set -l cmd (__fish_herald_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c herald -n "__fish_herald_needs_command" -l log-format -d 'Log format: `pretty` for people, `json` (one object per line) for log collectors. Levels come from RUST_LOG' -r -f -a "pretty\t''
json\t''"
complete -c herald -n "__fish_herald_needs_command" -s h -l help -d 'Print help'
complete -c herald -n "__fish_herald_needs_command" -s V -l version -d 'Print version'
complete -c herald -n "__fish_herald_needs_command" -f -a "serve" -d 'Run the service: receive webhooks, match rules, deliver messages'
complete -c herald -n "__fish_herald_needs_command" -f -a "check" -d 'Check the rules file and every template it uses; print every problem at once'
complete -c herald -n "__fish_herald_needs_command" -f -a "simulate" -d 'Show what the rules would do with a saved event, sending nothing'
complete -c herald -n "__fish_herald_needs_command" -f -a "test" -d 'Run the test cases kept beside the rules (*.test.yaml): PASS / FAIL per case'
complete -c herald -n "__fish_herald_needs_command" -f -a "send" -d 'Post an event file to a running herald, signed the way SuperOffice signs'
complete -c herald -n "__fish_herald_needs_command" -f -a "send-test" -d 'Send a test message through a channel\'s destination and print its answer'
complete -c herald -n "__fish_herald_needs_command" -f -a "events" -d 'List recent events, the rules they matched and their deliveries\' states'
complete -c herald -n "__fish_herald_needs_command" -f -a "deliveries" -d 'List deliveries with their attempts'
complete -c herald -n "__fish_herald_needs_command" -f -a "replay" -d 'Queue deliveries again, after the cause of their failure was fixed'
complete -c herald -n "__fish_herald_needs_command" -f -a "health" -d 'Ask a running herald whether it is ready (exit 0) or not (exit 1)'
complete -c herald -n "__fish_herald_needs_command" -f -a "superoffice" -d 'Manage herald\'s webhook in SuperOffice: register it from the rules, show its state; check signing in (whoami)'
complete -c herald -n "__fish_herald_needs_command" -f -a "schema" -d 'Print the JSON Schema of the rules file or of a test file, for editors'
complete -c herald -n "__fish_herald_needs_command" -f -a "completions" -d 'Print a shell completion script (bash, zsh, fish, elvish, powershell)'
complete -c herald -n "__fish_herald_needs_command" -f -a "manpage" -d 'Print herald\'s manual page (roff): `herald manpage | man -l -`'
complete -c herald -n "__fish_herald_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c herald -n "__fish_herald_using_subcommand serve" -l rules -d 'The rules file. Templates are read from `templates/` beside it' -r -F
complete -c herald -n "__fish_herald_using_subcommand serve" -l env-file -d 'A file of KEY=VALUE lines that `${VAR}` in the rules file reads before the environment; re-read at every reload, so a changed value takes effect without a restart' -r -F
complete -c herald -n "__fish_herald_using_subcommand serve" -l db -d 'The database: sqlite://FILE (created and migrated at start), or postgres://USER[:PASSWORD]@HOST:PORT/DB[?sslmode=require] for several replicas' -r
complete -c herald -n "__fish_herald_using_subcommand serve" -l listen -d 'Address and port to listen on (port 0 picks a free one)' -r
complete -c herald -n "__fish_herald_using_subcommand serve" -l webhook-secret-file -d 'A file with webhook secrets, one per line (any one verifies). Secrets may also come from HERALD_WEBHOOK_SECRET, comma-separated' -r -F
complete -c herald -n "__fish_herald_using_subcommand serve" -l max-body -d 'Largest webhook body accepted (bytes, or with KiB / MiB); larger ones get 413' -r
complete -c herald -n "__fish_herald_using_subcommand serve" -l concurrency -d 'How many messages are sent at once, over all channels' -r
complete -c herald -n "__fish_herald_using_subcommand serve" -l workers -d 'Threads that run herald\'s tasks (receiving, rendering, sending); by default one fewer than the machine\'s cores, at least one, leaving a core for the SQLite writer\'s thread and the database. See README, "When deliveries fall behind"' -r
complete -c herald -n "__fish_herald_using_subcommand serve" -l dedup-window -d 'How long an EventId is remembered, so that a repeat is delivered once' -r
complete -c herald -n "__fish_herald_using_subcommand serve" -l retention -d 'How long events and finished deliveries are kept (at least the dedup window)' -r
complete -c herald -n "__fish_herald_using_subcommand serve" -l keep-sent -d 'How much of each message herald sends is kept with its attempt, for the status page and `herald deliveries --show-sent` (bytes, or with KiB / MiB; 0 keeps none)' -r
complete -c herald -n "__fish_herald_using_subcommand serve" -l behind-after -d 'A channel whose oldest due delivery has waited longer than this raises `herald.backlog.behind` (once, until it catches up)' -r
complete -c herald -n "__fish_herald_using_subcommand serve" -l max-backlog -d 'Deliveries due and not yet sent above which /webhook answers 503 with Retry-After, so that SuperOffice retries later instead of herald taking events without bound (0, the default: no limit). See README, "A bounded backlog"' -r
complete -c herald -n "__fish_herald_using_subcommand serve" -l lease -d 'How long a delivery being sent is reserved; if herald hangs, it is sent again after this (if it dies, sooner: see --instance-timeout). Keep it well above the channels\' timeouts' -r
complete -c herald -n "__fish_herald_using_subcommand serve" -l admin-allow -d 'Addresses allowed to call POST /-/reload without the admin token (HERALD_ADMIN_TOKEN), comma-separated networks. An empty list allows no address: only the token' -r
complete -c herald -n "__fish_herald_using_subcommand serve" -l public-url -d 'The address people open herald at (https://herald.example.com): its host name is one the status page and /-/reload answer to, besides localhost and IP addresses' -r
complete -c herald -n "__fish_herald_using_subcommand serve" -l allowed-host -d 'More host names the status page and /-/reload answer to, comma-separated (a request naming another host gets 421: that is how a page that rebinds its own name to herald\'s address is refused)' -r
complete -c herald -n "__fish_herald_using_subcommand serve" -l trusted-proxies -d 'Proxies whose X-Forwarded-Proto herald believes (the sign-in cookie is Secure behind https), comma-separated networks' -r
complete -c herald -n "__fish_herald_using_subcommand serve" -l shutdown-grace -d 'On SIGTERM or SIGINT, how long sends in flight may take to finish' -r
complete -c herald -n "__fish_herald_using_subcommand serve" -l instance-timeout -d 'An instance (this one, or another replica on the same PostgreSQL database) that has not heartbeat for this long is taken for dead, and what it was sending is sent again' -r
complete -c herald -n "__fish_herald_using_subcommand serve" -l db-pool -d 'PostgreSQL only: connections in the pool, per process' -r
complete -c herald -n "__fish_herald_using_subcommand serve" -l db-timeout -d 'PostgreSQL only: the longest a statement may run, and the longest to wait for a connection; past it the webhook gets 503 and SuperOffice tries again' -r
complete -c herald -n "__fish_herald_using_subcommand serve" -l header-timeout -d 'How long a client may take to send a request\'s headers; also how long an idle keep-alive connection is kept' -r
complete -c herald -n "__fish_herald_using_subcommand serve" -l body-timeout -d 'How long a client may take to send a webhook\'s body; a slower one gets 408' -r
complete -c herald -n "__fish_herald_using_subcommand serve" -l idle-timeout -d 'A connection on which nothing moves either way for this long is closed' -r
complete -c herald -n "__fish_herald_using_subcommand serve" -l max-connections -d 'Connections served at once; more wait until one closes. Lowered to fit the process\'s file-descriptor limit' -r
complete -c herald -n "__fish_herald_using_subcommand serve" -l max-bodies-in-flight -d 'Bytes of webhook bodies held at once, over all requests (bytes, or with KiB / MiB); a request that finds no room within the body timeout gets 503' -r
complete -c herald -n "__fish_herald_using_subcommand serve" -l log-format -d 'Log format: `pretty` for people, `json` (one object per line) for log collectors. Levels come from RUST_LOG' -r -f -a "pretty\t''
json\t''"
complete -c herald -n "__fish_herald_using_subcommand serve" -l allow-unsigned -d 'Accept unsigned webhooks when no secret is set. For trials on a laptop only'
complete -c herald -n "__fish_herald_using_subcommand serve" -l no-watch -d 'Do not watch the rules file and templates for changes (SIGHUP and /-/reload still work)'
complete -c herald -n "__fish_herald_using_subcommand serve" -l test-on-reload -d 'Run the test files beside the rules (*.test.yaml, as `herald test`) at start and before every reload: rules that fail them are refused like a broken file'
complete -c herald -n "__fish_herald_using_subcommand serve" -s h -l help -d 'Print help'
complete -c herald -n "__fish_herald_using_subcommand serve" -s V -l version -d 'Print version'
complete -c herald -n "__fish_herald_using_subcommand check" -l rules -d 'The rules file. Templates are read from `templates/` beside it' -r -F
complete -c herald -n "__fish_herald_using_subcommand check" -l env-file -d 'A file of KEY=VALUE lines that `${VAR}` in the rules file reads before the environment; re-read at every reload, so a changed value takes effect without a restart' -r -F
complete -c herald -n "__fish_herald_using_subcommand check" -l log-format -d 'Log format: `pretty` for people, `json` (one object per line) for log collectors. Levels come from RUST_LOG' -r -f -a "pretty\t''
json\t''"
complete -c herald -n "__fish_herald_using_subcommand check" -s h -l help -d 'Print help'
complete -c herald -n "__fish_herald_using_subcommand check" -s V -l version -d 'Print version'
complete -c herald -n "__fish_herald_using_subcommand simulate" -l rules -d 'The rules file. Templates are read from `templates/` beside it' -r -F
complete -c herald -n "__fish_herald_using_subcommand simulate" -l env-file -d 'A file of KEY=VALUE lines that `${VAR}` in the rules file reads before the environment; re-read at every reload, so a changed value takes effect without a restart' -r -F
complete -c herald -n "__fish_herald_using_subcommand simulate" -l db -d 'The database to read conversations\' earlier steps from (read only); by default herald.db here, if there is one' -r
complete -c herald -n "__fish_herald_using_subcommand simulate" -l api-responses -d 'Read SuperOffice API answers from this folder instead of the network (DIR/Agents/Quote/GetQuoteEntity/ID.json, DIR/Sale/ID.json...): try rules offline' -r -F
complete -c herald -n "__fish_herald_using_subcommand simulate" -l log-format -d 'Log format: `pretty` for people, `json` (one object per line) for log collectors. Levels come from RUST_LOG' -r -f -a "pretty\t''
json\t''"
complete -c herald -n "__fish_herald_using_subcommand simulate" -l json -d 'Print the result as JSON'
complete -c herald -n "__fish_herald_using_subcommand simulate" -s h -l help -d 'Print help'
complete -c herald -n "__fish_herald_using_subcommand simulate" -s V -l version -d 'Print version'
complete -c herald -n "__fish_herald_using_subcommand test" -l rules -d 'The rules file. Templates are read from `templates/` beside it' -r -F
complete -c herald -n "__fish_herald_using_subcommand test" -l env-file -d 'A file of KEY=VALUE lines that `${VAR}` in the rules file reads before the environment; re-read at every reload, so a changed value takes effect without a restart' -r -F
complete -c herald -n "__fish_herald_using_subcommand test" -l format -d '`human` (PASS / FAIL lines with what differed), `junit` (XML for GitLab, Jenkins, GitHub) or `json`' -r -f -a "human\t''
junit\t''
json\t''"
complete -c herald -n "__fish_herald_using_subcommand test" -l filter -d 'Run only the cases whose name contains this' -r
complete -c herald -n "__fish_herald_using_subcommand test" -l log-format -d 'Log format: `pretty` for people, `json` (one object per line) for log collectors. Levels come from RUST_LOG' -r -f -a "pretty\t''
json\t''"
complete -c herald -n "__fish_herald_using_subcommand test" -s h -l help -d 'Print help'
complete -c herald -n "__fish_herald_using_subcommand test" -s V -l version -d 'Print version'
complete -c herald -n "__fish_herald_using_subcommand send" -l url -d 'Where herald listens' -r
complete -c herald -n "__fish_herald_using_subcommand send" -l secret -d 'The webhook secret to sign with (the first of a comma-separated list). Without one the event is sent unsigned' -r
complete -c herald -n "__fish_herald_using_subcommand send" -l log-format -d 'Log format: `pretty` for people, `json` (one object per line) for log collectors. Levels come from RUST_LOG' -r -f -a "pretty\t''
json\t''"
complete -c herald -n "__fish_herald_using_subcommand send" -s h -l help -d 'Print help'
complete -c herald -n "__fish_herald_using_subcommand send" -s V -l version -d 'Print version'
complete -c herald -n "__fish_herald_using_subcommand send-test" -l rules -d 'The rules file. Templates are read from `templates/` beside it' -r -F
complete -c herald -n "__fish_herald_using_subcommand send-test" -l env-file -d 'A file of KEY=VALUE lines that `${VAR}` in the rules file reads before the environment; re-read at every reload, so a changed value takes effect without a restart' -r -F
complete -c herald -n "__fish_herald_using_subcommand send-test" -l log-format -d 'Log format: `pretty` for people, `json` (one object per line) for log collectors. Levels come from RUST_LOG' -r -f -a "pretty\t''
json\t''"
complete -c herald -n "__fish_herald_using_subcommand send-test" -s h -l help -d 'Print help'
complete -c herald -n "__fish_herald_using_subcommand send-test" -s V -l version -d 'Print version'
complete -c herald -n "__fish_herald_using_subcommand events" -l db -d 'The database: sqlite://FILE (created and migrated at start), or postgres://USER[:PASSWORD]@HOST:PORT/DB[?sslmode=require] for several replicas' -r
complete -c herald -n "__fish_herald_using_subcommand events" -l limit -d 'How many events, newest first' -r
complete -c herald -n "__fish_herald_using_subcommand events" -l event-type -d 'Only events of this type, such as quote.ordered' -r
complete -c herald -n "__fish_herald_using_subcommand events" -l log-format -d 'Log format: `pretty` for people, `json` (one object per line) for log collectors. Levels come from RUST_LOG' -r -f -a "pretty\t''
json\t''"
complete -c herald -n "__fish_herald_using_subcommand events" -l json -d 'Print JSON'
complete -c herald -n "__fish_herald_using_subcommand events" -s h -l help -d 'Print help'
complete -c herald -n "__fish_herald_using_subcommand events" -s V -l version -d 'Print version'
complete -c herald -n "__fish_herald_using_subcommand deliveries" -l db -d 'The database: sqlite://FILE (created and migrated at start), or postgres://USER[:PASSWORD]@HOST:PORT/DB[?sslmode=require] for several replicas' -r
complete -c herald -n "__fish_herald_using_subcommand deliveries" -l status -d 'Only deliveries in this state' -r -f -a "pending\t''
retrying\t''
held\t''
digest\t''
sent\t''
dead\t''
skipped\t''"
complete -c herald -n "__fish_herald_using_subcommand deliveries" -l event -d 'Only deliveries of this event' -r
complete -c herald -n "__fish_herald_using_subcommand deliveries" -l channel -d 'Only deliveries to this channel' -r
complete -c herald -n "__fish_herald_using_subcommand deliveries" -l limit -d 'How many, newest first' -r
complete -c herald -n "__fish_herald_using_subcommand deliveries" -l show-sent -d 'Print what each attempt of this delivery sent: where to, the headers, the body' -r
complete -c herald -n "__fish_herald_using_subcommand deliveries" -l log-format -d 'Log format: `pretty` for people, `json` (one object per line) for log collectors. Levels come from RUST_LOG' -r -f -a "pretty\t''
json\t''"
complete -c herald -n "__fish_herald_using_subcommand deliveries" -l json -d 'Print JSON'
complete -c herald -n "__fish_herald_using_subcommand deliveries" -s h -l help -d 'Print help'
complete -c herald -n "__fish_herald_using_subcommand deliveries" -s V -l version -d 'Print version'
complete -c herald -n "__fish_herald_using_subcommand replay" -l db -d 'The database: sqlite://FILE (created and migrated at start), or postgres://USER[:PASSWORD]@HOST:PORT/DB[?sslmode=require] for several replicas' -r
complete -c herald -n "__fish_herald_using_subcommand replay" -l channel -d 'With --dead: only those of this channel' -r
complete -c herald -n "__fish_herald_using_subcommand replay" -l log-format -d 'Log format: `pretty` for people, `json` (one object per line) for log collectors. Levels come from RUST_LOG' -r -f -a "pretty\t''
json\t''"
complete -c herald -n "__fish_herald_using_subcommand replay" -l dead -d 'Every dead delivery'
complete -c herald -n "__fish_herald_using_subcommand replay" -s h -l help -d 'Print help'
complete -c herald -n "__fish_herald_using_subcommand replay" -s V -l version -d 'Print version'
complete -c herald -n "__fish_herald_using_subcommand health" -l url -d 'The readiness URL' -r
complete -c herald -n "__fish_herald_using_subcommand health" -l log-format -d 'Log format: `pretty` for people, `json` (one object per line) for log collectors. Levels come from RUST_LOG' -r -f -a "pretty\t''
json\t''"
complete -c herald -n "__fish_herald_using_subcommand health" -s h -l help -d 'Print help'
complete -c herald -n "__fish_herald_using_subcommand health" -s V -l version -d 'Print version'
complete -c herald -n "__fish_herald_using_subcommand superoffice; and not __fish_seen_subcommand_from register status whoami help" -l log-format -d 'Log format: `pretty` for people, `json` (one object per line) for log collectors. Levels come from RUST_LOG' -r -f -a "pretty\t''
json\t''"
complete -c herald -n "__fish_herald_using_subcommand superoffice; and not __fish_seen_subcommand_from register status whoami help" -s h -l help -d 'Print help'
complete -c herald -n "__fish_herald_using_subcommand superoffice; and not __fish_seen_subcommand_from register status whoami help" -s V -l version -d 'Print version'
complete -c herald -n "__fish_herald_using_subcommand superoffice; and not __fish_seen_subcommand_from register status whoami help" -f -a "register" -d 'Create or update herald\'s webhook in SuperOffice so that it sends exactly the events the rules use, signed with HERALD_WEBHOOK_SECRET, and is Active; and a second webhook that tells herald when SuperOffice stops the first'
complete -c herald -n "__fish_herald_using_subcommand superoffice; and not __fish_seen_subcommand_from register status whoami help" -f -a "status" -d 'Show herald\'s webhooks in SuperOffice: state, events against what the rules need, errors in a row, last error. Exit 1 when one is not Active or lacks events'
complete -c herald -n "__fish_herald_using_subcommand superoffice; and not __fish_seen_subcommand_from register status whoami help" -f -a "whoami" -d 'Sign in as `serve` would and show the tenant, the API root in use, the user herald is signed in as, and when the credential expires. Exit 1 with SuperOffice\'s reason when signing in fails: the first command to run after writing `superoffice:`'
complete -c herald -n "__fish_herald_using_subcommand superoffice; and not __fish_seen_subcommand_from register status whoami help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c herald -n "__fish_herald_using_subcommand superoffice; and __fish_seen_subcommand_from register" -l rules -d 'The rules file. Templates are read from `templates/` beside it' -r -F
complete -c herald -n "__fish_herald_using_subcommand superoffice; and __fish_seen_subcommand_from register" -l env-file -d 'A file of KEY=VALUE lines that `${VAR}` in the rules file reads before the environment; re-read at every reload, so a changed value takes effect without a restart' -r -F
complete -c herald -n "__fish_herald_using_subcommand superoffice; and __fish_seen_subcommand_from register" -l url -d 'Where SuperOffice posts: herald\'s public address, ending in /webhook' -r
complete -c herald -n "__fish_herald_using_subcommand superoffice; and __fish_seen_subcommand_from register" -l name -d 'The webhook\'s name in SuperOffice (default: `superoffice: webhook_name:`, or herald)' -r
complete -c herald -n "__fish_herald_using_subcommand superoffice; and __fish_seen_subcommand_from register" -l errors-email -d 'Where SuperOffice emails when the webhook fails' -r
complete -c herald -n "__fish_herald_using_subcommand superoffice; and __fish_seen_subcommand_from register" -l state-url -d 'Where SuperOffice posts the first webhook\'s state changes (default: --url)' -r
complete -c herald -n "__fish_herald_using_subcommand superoffice; and __fish_seen_subcommand_from register" -l log-format -d 'Log format: `pretty` for people, `json` (one object per line) for log collectors. Levels come from RUST_LOG' -r -f -a "pretty\t''
json\t''"
complete -c herald -n "__fish_herald_using_subcommand superoffice; and __fish_seen_subcommand_from register" -l dry-run -d 'Print the requests that would be made, the secret hidden, and change nothing'
complete -c herald -n "__fish_herald_using_subcommand superoffice; and __fish_seen_subcommand_from register" -s h -l help -d 'Print help'
complete -c herald -n "__fish_herald_using_subcommand superoffice; and __fish_seen_subcommand_from register" -s V -l version -d 'Print version'
complete -c herald -n "__fish_herald_using_subcommand superoffice; and __fish_seen_subcommand_from status" -l rules -d 'The rules file. Templates are read from `templates/` beside it' -r -F
complete -c herald -n "__fish_herald_using_subcommand superoffice; and __fish_seen_subcommand_from status" -l env-file -d 'A file of KEY=VALUE lines that `${VAR}` in the rules file reads before the environment; re-read at every reload, so a changed value takes effect without a restart' -r -F
complete -c herald -n "__fish_herald_using_subcommand superoffice; and __fish_seen_subcommand_from status" -l url -d 'Also show webhooks posting to this address' -r
complete -c herald -n "__fish_herald_using_subcommand superoffice; and __fish_seen_subcommand_from status" -l name -d 'The webhook\'s name (default: `superoffice: webhook_name:`, or herald)' -r
complete -c herald -n "__fish_herald_using_subcommand superoffice; and __fish_seen_subcommand_from status" -l log-format -d 'Log format: `pretty` for people, `json` (one object per line) for log collectors. Levels come from RUST_LOG' -r -f -a "pretty\t''
json\t''"
complete -c herald -n "__fish_herald_using_subcommand superoffice; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help'
complete -c herald -n "__fish_herald_using_subcommand superoffice; and __fish_seen_subcommand_from status" -s V -l version -d 'Print version'
complete -c herald -n "__fish_herald_using_subcommand superoffice; and __fish_seen_subcommand_from whoami" -l rules -d 'The rules file. Templates are read from `templates/` beside it' -r -F
complete -c herald -n "__fish_herald_using_subcommand superoffice; and __fish_seen_subcommand_from whoami" -l env-file -d 'A file of KEY=VALUE lines that `${VAR}` in the rules file reads before the environment; re-read at every reload, so a changed value takes effect without a restart' -r -F
complete -c herald -n "__fish_herald_using_subcommand superoffice; and __fish_seen_subcommand_from whoami" -l log-format -d 'Log format: `pretty` for people, `json` (one object per line) for log collectors. Levels come from RUST_LOG' -r -f -a "pretty\t''
json\t''"
complete -c herald -n "__fish_herald_using_subcommand superoffice; and __fish_seen_subcommand_from whoami" -s h -l help -d 'Print help'
complete -c herald -n "__fish_herald_using_subcommand superoffice; and __fish_seen_subcommand_from whoami" -s V -l version -d 'Print version'
complete -c herald -n "__fish_herald_using_subcommand superoffice; and __fish_seen_subcommand_from help" -f -a "register" -d 'Create or update herald\'s webhook in SuperOffice so that it sends exactly the events the rules use, signed with HERALD_WEBHOOK_SECRET, and is Active; and a second webhook that tells herald when SuperOffice stops the first'
complete -c herald -n "__fish_herald_using_subcommand superoffice; and __fish_seen_subcommand_from help" -f -a "status" -d 'Show herald\'s webhooks in SuperOffice: state, events against what the rules need, errors in a row, last error. Exit 1 when one is not Active or lacks events'
complete -c herald -n "__fish_herald_using_subcommand superoffice; and __fish_seen_subcommand_from help" -f -a "whoami" -d 'Sign in as `serve` would and show the tenant, the API root in use, the user herald is signed in as, and when the credential expires. Exit 1 with SuperOffice\'s reason when signing in fails: the first command to run after writing `superoffice:`'
complete -c herald -n "__fish_herald_using_subcommand superoffice; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c herald -n "__fish_herald_using_subcommand schema" -l log-format -d 'Log format: `pretty` for people, `json` (one object per line) for log collectors. Levels come from RUST_LOG' -r -f -a "pretty\t''
json\t''"
complete -c herald -n "__fish_herald_using_subcommand schema" -s h -l help -d 'Print help'
complete -c herald -n "__fish_herald_using_subcommand schema" -s V -l version -d 'Print version'
complete -c herald -n "__fish_herald_using_subcommand completions" -l log-format -d 'Log format: `pretty` for people, `json` (one object per line) for log collectors. Levels come from RUST_LOG' -r -f -a "pretty\t''
json\t''"
complete -c herald -n "__fish_herald_using_subcommand completions" -s h -l help -d 'Print help'
complete -c herald -n "__fish_herald_using_subcommand completions" -s V -l version -d 'Print version'
complete -c herald -n "__fish_herald_using_subcommand manpage" -l log-format -d 'Log format: `pretty` for people, `json` (one object per line) for log collectors. Levels come from RUST_LOG' -r -f -a "pretty\t''
json\t''"
complete -c herald -n "__fish_herald_using_subcommand manpage" -s h -l help -d 'Print help'
complete -c herald -n "__fish_herald_using_subcommand manpage" -s V -l version -d 'Print version'
complete -c herald -n "__fish_herald_using_subcommand help; and not __fish_seen_subcommand_from serve check simulate test send send-test events deliveries replay health superoffice schema completions manpage help" -f -a "serve" -d 'Run the service: receive webhooks, match rules, deliver messages'
complete -c herald -n "__fish_herald_using_subcommand help; and not __fish_seen_subcommand_from serve check simulate test send send-test events deliveries replay health superoffice schema completions manpage help" -f -a "check" -d 'Check the rules file and every template it uses; print every problem at once'
complete -c herald -n "__fish_herald_using_subcommand help; and not __fish_seen_subcommand_from serve check simulate test send send-test events deliveries replay health superoffice schema completions manpage help" -f -a "simulate" -d 'Show what the rules would do with a saved event, sending nothing'
complete -c herald -n "__fish_herald_using_subcommand help; and not __fish_seen_subcommand_from serve check simulate test send send-test events deliveries replay health superoffice schema completions manpage help" -f -a "test" -d 'Run the test cases kept beside the rules (*.test.yaml): PASS / FAIL per case'
complete -c herald -n "__fish_herald_using_subcommand help; and not __fish_seen_subcommand_from serve check simulate test send send-test events deliveries replay health superoffice schema completions manpage help" -f -a "send" -d 'Post an event file to a running herald, signed the way SuperOffice signs'
complete -c herald -n "__fish_herald_using_subcommand help; and not __fish_seen_subcommand_from serve check simulate test send send-test events deliveries replay health superoffice schema completions manpage help" -f -a "send-test" -d 'Send a test message through a channel\'s destination and print its answer'
complete -c herald -n "__fish_herald_using_subcommand help; and not __fish_seen_subcommand_from serve check simulate test send send-test events deliveries replay health superoffice schema completions manpage help" -f -a "events" -d 'List recent events, the rules they matched and their deliveries\' states'
complete -c herald -n "__fish_herald_using_subcommand help; and not __fish_seen_subcommand_from serve check simulate test send send-test events deliveries replay health superoffice schema completions manpage help" -f -a "deliveries" -d 'List deliveries with their attempts'
complete -c herald -n "__fish_herald_using_subcommand help; and not __fish_seen_subcommand_from serve check simulate test send send-test events deliveries replay health superoffice schema completions manpage help" -f -a "replay" -d 'Queue deliveries again, after the cause of their failure was fixed'
complete -c herald -n "__fish_herald_using_subcommand help; and not __fish_seen_subcommand_from serve check simulate test send send-test events deliveries replay health superoffice schema completions manpage help" -f -a "health" -d 'Ask a running herald whether it is ready (exit 0) or not (exit 1)'
complete -c herald -n "__fish_herald_using_subcommand help; and not __fish_seen_subcommand_from serve check simulate test send send-test events deliveries replay health superoffice schema completions manpage help" -f -a "superoffice" -d 'Manage herald\'s webhook in SuperOffice: register it from the rules, show its state; check signing in (whoami)'
complete -c herald -n "__fish_herald_using_subcommand help; and not __fish_seen_subcommand_from serve check simulate test send send-test events deliveries replay health superoffice schema completions manpage help" -f -a "schema" -d 'Print the JSON Schema of the rules file or of a test file, for editors'
complete -c herald -n "__fish_herald_using_subcommand help; and not __fish_seen_subcommand_from serve check simulate test send send-test events deliveries replay health superoffice schema completions manpage help" -f -a "completions" -d 'Print a shell completion script (bash, zsh, fish, elvish, powershell)'
complete -c herald -n "__fish_herald_using_subcommand help; and not __fish_seen_subcommand_from serve check simulate test send send-test events deliveries replay health superoffice schema completions manpage help" -f -a "manpage" -d 'Print herald\'s manual page (roff): `herald manpage | man -l -`'
complete -c herald -n "__fish_herald_using_subcommand help; and not __fish_seen_subcommand_from serve check simulate test send send-test events deliveries replay health superoffice schema completions manpage help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c herald -n "__fish_herald_using_subcommand help; and __fish_seen_subcommand_from superoffice" -f -a "register" -d 'Create or update herald\'s webhook in SuperOffice so that it sends exactly the events the rules use, signed with HERALD_WEBHOOK_SECRET, and is Active; and a second webhook that tells herald when SuperOffice stops the first'
complete -c herald -n "__fish_herald_using_subcommand help; and __fish_seen_subcommand_from superoffice" -f -a "status" -d 'Show herald\'s webhooks in SuperOffice: state, events against what the rules need, errors in a row, last error. Exit 1 when one is not Active or lacks events'
complete -c herald -n "__fish_herald_using_subcommand help; and __fish_seen_subcommand_from superoffice" -f -a "whoami" -d 'Sign in as `serve` would and show the tenant, the API root in use, the user herald is signed in as, and when the credential expires. Exit 1 with SuperOffice\'s reason when signing in fails: the first command to run after writing `superoffice:`'
