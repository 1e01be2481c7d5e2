-- Prelude of every project script (after lib.lua): one project, one slot.
-- KEYS[1..9] the project's meta, events, users, holders, expiry, conns,
--            connuser, present, grace (lib.lua); KEYS[10] the request's lock
--            key (or the lock-key prefix); KEYS[11] the slot's due index
--            (K_DUE). All in the project's slot; declared for the cluster.
-- ARGV[1] key prefix  ARGV[2] project id  ARGV[3] history (events kept)
-- ARGV[4] disconnect grace ms  ARGV[5] lock-key margin ms
-- The script's own arguments start at ARGV[6].
init(ARGV[1], ARGV[3], ARGV[4], ARGV[5])
K_DUE = KEYS[11]
use(ARGV[2], KEYS)

-- ---- the script's own body follows ----
