package redis

import (
	"strconv"
	"sync"
)

// Redis Cluster has 16384 hash slots; a key's slot is the CRC16 (XMODEM) of
// its hash tag, modulo 16384. The store keeps one due index per slot
// (lua/lib.lua K_DUE) in that slot, so a project script updates it
// atomically with the project, and no one slot holds expiry for everything.
const numSlots = 16384

// hintShards is how many hint shards (lua/hint.lua) spread the slots'
// due times over: slot s hints in shard s % hintShards.
const hintShards = 16

// slotOf returns the Cluster slot of a project's keys (hash tag {projectID}).
func slotOf(projectID string) int { return int(crc16(projectID)) % numSlots }

// crc16 is CRC-16/XMODEM, the checksum of Redis Cluster key slots.
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

var slotTags struct {
	once sync.Once
	tags [numSlots]string
}

// slotTag returns a short hash tag of the given slot: the smallest decimal
// number whose CRC16 falls in it. Every instance computes the same table.
func slotTag(slot int) string {
	slotTags.once.Do(func() {
		left := numSlots
		for n := 0; left > 0; n++ {
			t := strconv.Itoa(n)
			if s := crc16(t) % numSlots; slotTags.tags[s] == "" {
				slotTags.tags[s] = t
				left--
			}
		}
	})
	return slotTags.tags[slot]
}

// dueKey is the due index of a slot: zset project -> earliest due ms.
func (s *Store) dueKey(slot int) string {
	return s.prefix + "due:{" + slotTag(slot) + "}"
}

// hintKeys are the shard and version keys of the hint shard of a slot.
func (s *Store) hintKeys(slot int) []string {
	tag := "{reaper." + strconv.Itoa(slot%hintShards) + "}"
	return []string{s.prefix + tag + ":due", s.prefix + tag + ":ver"}
}
