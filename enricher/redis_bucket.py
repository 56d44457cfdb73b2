"""Kladana's bucket and parallel slots of one token, kept in Redis for every replica.

Three keys per token, named by a hash of the token (never the token itself), with a hash
tag so that a Redis Cluster keeps them on one node:

- ``kladana-limiter:{<hash>}:bucket``: a hash with the bucket's ``level``, its
  ``updated`` time, ``spent`` (units ever taken: each grant's serial) and
  ``paused_until`` (a 429's retry-after, for every replica);
- ``...:slots``: a sorted set of leases, one per request in flight, scored by when it
  expires; a holder renews its leases while it runs, so those of a replica that died
  expire within one lease time; requests given up on are held for a set time instead;
- ``...:replicas``: the replicas alive, scored the same way, so a replica that falls
  back to a per-process share knows how many share the budget.

Every change is one call of one Lua script, so it is atomic across replicas, on Redis's
own clock (``TIME``), so the replicas' clocks do not matter. The bucket refills as
:class:`enricher.bucket.TokenBucket` does (the same arithmetic, in Lua); an answer sets
it to that answer's own bound only, not yet the latest count's (a unit or four lower).
"""

import hashlib
import math
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr
from redis import Redis

_SCRIPT = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local bucket_key, slots_key, replicas_key = KEYS[1], KEYS[2], KEYS[3]
local op, keep_ms = ARGV[1], tonumber(ARGV[2])

local function keep(key, ms)
  if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, ms) end
end

-- The bucket refilled to now: level, units ever spent, paused until (ms).
local function bucket(capacity, window_ms)
  local state = redis.call('HMGET', bucket_key, 'level', 'updated', 'spent', 'paused_until')
  local level = tonumber(state[1]) or capacity
  local elapsed = math.max(0, now - (tonumber(state[2]) or now))
  level = math.min(capacity, level + elapsed * capacity / window_ms)
  return level, tonumber(state[3]) or 0, tonumber(state[4]) or 0
end

local function save(level, spent, paused_until)
  redis.call('HSET', bucket_key, 'level', tostring(level), 'updated', now,
             'spent', spent, 'paused_until', paused_until)
  keep(bucket_key, keep_ms)
end

if op == 'take' then
  local capacity, window_ms, cost = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
  local max_parallel, lease_ms, lease = tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8]
  redis.call('ZREMRANGEBYSCORE', slots_key, '-inf', now)
  local level, spent, paused_until = bucket(capacity, window_ms)
  if paused_until > now then return {0, paused_until - now} end
  -- A slot frees when its holder releases it: the caller polls.
  if redis.call('ZCARD', slots_key) >= max_parallel then return {0, -1} end
  if level < cost - 1e-9 then
    return {0, math.ceil((cost - level) * window_ms / capacity)}
  end
  -- Requests still in flight may be counted by the server after this one.
  local unsettled = redis.call('ZCARD', slots_key) * cost
  save(level - cost, spent + cost, paused_until)
  redis.call('ZADD', slots_key, now + lease_ms, lease)
  keep(slots_key, keep_ms)
  return {1, spent + cost - unsettled}
elseif op == 'sync' then
  local capacity, window_ms = tonumber(ARGV[3]), tonumber(ARGV[4])
  local remaining, serial, pause_ms = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
  local level, spent, paused_until = bucket(capacity, window_ms)
  if remaining then level = math.min(capacity, remaining - (spent - serial)) end
  if pause_ms > 0 then paused_until = math.max(paused_until, now + pause_ms) end
  save(level, spent, paused_until)
  return 0
elseif op == 'hold' then
  redis.call('ZADD', slots_key, now + tonumber(ARGV[3]), ARGV[4])
  keep(slots_key, keep_ms)
  return 0
elseif op == 'renew' then
  local lease_ms = tonumber(ARGV[3])
  redis.call('ZADD', replicas_key, now + lease_ms, ARGV[4])
  redis.call('ZREMRANGEBYSCORE', replicas_key, '-inf', now)
  keep(replicas_key, keep_ms)
  for index = 5, #ARGV do
    redis.call('ZADD', slots_key, 'XX', now + lease_ms, ARGV[index])
  end
  return redis.call('ZCARD', replicas_key)
end
return redis.error_reply('unknown op ' .. tostring(op))
"""


@dataclass(frozen=True)
class Granted:
    serial: float
    """The units spent that the server surely counted once it counted this request."""


@dataclass(frozen=True)
class Refused:
    wait_s: float | None
    """When the units or the pause allow the next request; ``None``: every slot is held."""


@dataclass(frozen=True)
class BucketLimits:
    """What every replica of a token asks of the shared bucket."""

    cost: int
    max_parallel: int
    lease_s: float
    keep_s: float
    """How long an untouched key lives: a bucket idle that long is full anyway."""


class RedisBucket:
    """One token's shared bucket and slots; every method may raise ``redis.RedisError``."""

    def __init__(self, client: Redis, token: SecretStr, limits: BucketLimits) -> None:
        digest = hashlib.sha256(token.get_secret_value().encode()).hexdigest()[:16]
        self.keys = [f"kladana-limiter:{{{digest}}}:{part}" for part in _PARTS]
        self._client = client
        self._script = client.register_script(_SCRIPT)
        self._limits = limits
        self._keep_ms = _ms(limits.keep_s)

    def take(self, lease: str, capacity: float, window_s: float) -> Granted | Refused:
        """Units and a slot leased as ``lease``, or how long to wait before asking again."""
        limits = self._limits
        granted, value = self._run(
            "take",
            capacity,
            _ms(window_s),
            limits.cost,
            limits.max_parallel,
            _ms(limits.lease_s),
            lease,
        )
        if granted:
            return Granted(float(value))
        return Refused(None if value < 0 else value / 1000.0)

    def sync(
        self,
        capacity: float,
        window_s: float,
        *,
        remaining: float | None,
        serial: float,
        pause_s: float | None,
    ) -> None:
        """Set the level to ``remaining`` less what was spent since ``serial``; pause
        every replica for ``pause_s``."""
        self._run(
            "sync",
            capacity,
            _ms(window_s),
            "" if remaining is None else remaining,
            serial,
            _ms(pause_s or 0),
        )

    def hold(self, lease: str, for_s: float) -> None:
        """Count one more slot taken for ``for_s`` (a request given up on)."""
        self._run("hold", _ms(for_s), lease, keep_ms=self._keep_ms + _ms(for_s))

    def renew(self, replica: str, leases: list[str]) -> int:
        """Extend ``leases`` by a lease time, mark ``replica`` alive; the replicas alive."""
        return int(self._run("renew", _ms(self._limits.lease_s), replica, *leases))

    def release(self, lease: str) -> None:
        self._client.zrem(self.keys[1], lease)

    def _run(self, op: str, *arguments: object, keep_ms: int | None = None) -> Any:
        return self._script(
            keys=self.keys, args=[op, keep_ms or self._keep_ms, *map(_argument, arguments)]
        )


_PARTS = ("bucket", "slots", "replicas")


def _ms(seconds: float) -> int:
    return math.ceil(seconds * 1000)


def _argument(value: object) -> str:
    # repr keeps every digit of a float; Lua's tonumber reads it back exactly.
    return repr(value) if isinstance(value, float) else str(value)
