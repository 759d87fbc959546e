package linkage

import (
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"

	"tfmatch/matcher/store"
	"tfmatch/matchkey"
)

// BenchmarkLink links synthetic districts of 100k and 1M records (about
// seven tokens each). Run with -benchtime=1x for the large size.
func BenchmarkLink(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			recs := synth(n, 42)
			b.ResetTimer()
			var peak heapPeak
			peak.start()
			for b.Loop() {
				if _, err := Link(recs, Config{}); err != nil {
					b.Fatal(err)
				}
			}
			peak.stop()
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
			peak.report(b, n)
		})
	}
}

// BenchmarkLinkDistrict feeds a Builder, as the link run does, with a
// synthetic district of the real token mix (about 23 tokens of 27 kinds
// and a Bloom filter per record, see feedDistrict) and links it. The
// timing covers feeding and linking; the generated records are never
// held. It reports the heap's peak: peak-heap-B is the most the heap's
// objects (live or not yet collected) ever held, sampled every
// millisecond, and peak-live-B the most the collector found live after
// a cycle; link-ns/op is the time of Builder.Link alone, and PHASE-s the
// time of each of its phases (see Builder.onPhase). Sizes: 200,000
// records by default; TFMATCH_LINK_BENCH_RECORDS (a comma-separated
// list, e.g. 2000000,5000000) sets others. With
// TFMATCH_LINK_BENCH_PHASES=1 it also collects at the end of each of the
// linker's phases and reports the live heap there instead of the phases'
// times (which the collections lengthen).
func BenchmarkLinkDistrict(b *testing.B) {
	sizes := []int{200_000}
	if env := os.Getenv("TFMATCH_LINK_BENCH_RECORDS"); env != "" {
		sizes = nil
		for _, f := range strings.Split(env, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 {
				b.Fatalf("TFMATCH_LINK_BENCH_RECORDS: %q is not a record count", f)
			}
			sizes = append(sizes, n)
		}
	}
	phases := os.Getenv("TFMATCH_LINK_BENCH_PHASES") == "1"
	for _, n := range sizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			var peak heapPeak
			phaseLive := map[string]uint64{}
			phaseTime := map[string]time.Duration{}
			var order []string
			records := n
			var linkTime time.Duration
			runtime.GC()
			peak.start()
			for b.Loop() {
				bl := NewBuilder()
				var last time.Time
				bl.onPhase = func(name string) {
					if _, ok := phaseTime[name]; !ok {
						order = append(order, name)
					}
					phaseTime[name] += time.Since(last)
					if phases {
						runtime.GC()
						var ms runtime.MemStats
						runtime.ReadMemStats(&ms)
						phaseLive[name] = max(phaseLive[name], ms.HeapAlloc)
					}
					last = time.Now()
				}
				if err := feedDistrict(bl, n, 7); err != nil {
					b.Fatal(err)
				}
				records = bl.Len()
				if phases {
					bl.onPhase("load")
				}
				t0 := time.Now()
				last = t0
				if _, err := bl.Link(Config{}); err != nil {
					b.Fatal(err)
				}
				linkTime += time.Since(t0)
			}
			peak.stop()
			b.ReportMetric(float64(linkTime.Nanoseconds())/float64(b.N), "link-ns/op")
			b.ReportMetric(float64(records)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
			peak.report(b, records)
			for _, name := range order {
				if phases {
					b.ReportMetric(float64(phaseLive[name]), "live-after-"+name+"-B")
				} else {
					b.ReportMetric(phaseTime[name].Seconds()/float64(b.N), name+"-s")
				}
			}
		})
	}
}

// heapPeak samples the heap on a goroutine of its own between start and
// stop.
type heapPeak struct {
	done         chan struct{}
	finished     chan struct{}
	objects, gcd uint64
}

func (h *heapPeak) start() {
	h.done, h.finished = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(h.finished)
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/live:bytes"}}
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			h.objects = max(h.objects, s[0].Value.Uint64())
			h.gcd = max(h.gcd, s[1].Value.Uint64())
			select {
			case <-h.done:
				return
			case <-t.C:
			}
		}
	}()
}

func (h *heapPeak) stop() {
	close(h.done)
	<-h.finished
}

func (h *heapPeak) report(b *testing.B, records int) {
	b.ReportMetric(float64(h.objects), "peak-heap-B")
	b.ReportMetric(float64(h.gcd), "peak-live-B")
	b.ReportMetric(float64(h.gcd)/float64(records), "peak-live-B/record")
}

// feedDistrict adds n records of a synthetic district to b, with the
// token mix of the real generator's (about 23 tokens per record, the
// same kinds in about the same numbers, block sizes skewed by common
// names) and a Bloom filter each. People live in households of one to
// four; each is known to some of four agencies, with typing errors in a
// tenth of the given names, nicknames beside a twelfth, and a few
// within-agency duplicates. Records come as a store yields them: by
// source, each source's in ref order, which is random with respect to
// households. Everything is computed from the record's position, so
// nothing is held. It adds at most n records, and a few per cent fewer
// at some sizes.
func feedDistrict(b *Builder, n int, seed uint64) error {
	h := func(parts ...uint64) uint64 {
		x := seed
		for _, p := range parts {
			x = splitmix(x ^ p)
		}
		return x
	}
	// Person slots: household hh has slots 4hh..4hh+3, of which the
	// first 1 + h(1, hh)%4 are people; slots 0 and 1 are adults. The
	// sources' shares give about 0.83 records per slot over all four.
	slots := uint64(n) * 6 / 5
	type source struct {
		name string
		// share of people, per mille, that the source holds
		adults, children uint64
	}
	srcs := []source{{"council", 530, 530}, {"dwp", 640, 0}, {"education", 0, 900}, {"police", 60, 60}}
	// permutation of slots: i -> i*mul mod slots (mul coprime to slots)
	const mul = 2654435761
	added := 0
	var tok [store.TokenLen]byte
	var filt [store.FilterLen]byte
	add := func(kind matchkey.Kind, parts ...uint64) error {
		x := h(parts...)
		binary.BigEndian.PutUint64(tok[:8], x)
		binary.BigEndian.PutUint64(tok[8:], splitmix(x))
		return b.AddToken(kind, &tok)
	}
	setBits := func(field, val uint64, bits int) {
		for j := range bits {
			p := h(0xf11, field, val, uint64(j)) % (8 * store.FilterLen)
			filt[p/8] |= 1 << (p % 8)
		}
	}
	for si, s := range srcs {
		for i := uint64(0); i < slots && added < n; i++ {
			p := i * mul % slots
			hh, m := p/4, p%4
			if m >= 1+h(1, hh)%4 {
				continue
			}
			adult := m < 2
			share := s.children
			if adult {
				share = s.adults
			}
			if h(2, p, uint64(si))%1000 >= share {
				continue
			}
			copies := 1
			if h(3, p, uint64(si))%50 == 0 {
				copies = 2
			}
			for c := range copies {
				if added == n {
					break
				}
				r := h(4, p, uint64(si), uint64(c))
				// Skewed name frequencies: a cube of a uniform value.
				cube := func(x uint64, n float64) uint64 {
					u := float64(x>>11) / (1 << 53)
					return uint64(u * u * u * n)
				}
				family := cube(h(5, hh), 20000)
				if m == 1 && h(6, hh)%10 == 0 {
					family = cube(h(7, hh), 20000)
				}
				given := cube(h(8, p), 2000)
				gtrue := given
				if r%10 == 0 { // typing error
					given = 1<<32 + h(9, r)%100000
				}
				dob := h(10, p) % 29200
				if r%97 == 0 {
					dob = h(11, r) % 29200
				}
				year, dm := dob/365, dob%365
				pc := hh / 30
				flat := h(12, hh/3)%4 == 0
				building := hh
				if flat {
					building = hh / 3
				}
				var ref [16]byte
				binary.BigEndian.PutUint64(ref[:8], i)
				binary.BigEndian.PutUint64(ref[8:], uint64(c))
				clear(filt[:])
				setBits(1, gtrue, 16)
				if given != gtrue {
					setBits(1, given, 5)
				}
				setBits(2, family, 20)
				setBits(3, dob, 12)
				setBits(4, pc, 10)
				setBits(5, building, 6)
				if _, err := b.Add(s.name, ref, filt[:]); err != nil {
					return err
				}
				added++
				if adult && (s.name == "dwp" || s.name == "police") && h(13, r)%10 < 8 {
					if err := add(matchkey.NINO, p); err != nil {
						return err
					}
				}
				if (s.name == "council" || s.name == "police") && h(14, r)%100 < 50 {
					if err := add(matchkey.NHS, p); err != nil {
						return err
					}
				}
				if !adult && s.name == "education" {
					if err := add(matchkey.UPN, p); err != nil {
						return err
					}
				}
				givens := []uint64{given}
				if h(15, r)%12 == 0 {
					givens = append(givens, cube(h(16, r), 2000))
				}
				fph, yk := family/4, year
				for _, g := range givens {
					gph := g / 4
					for _, t := range []struct {
						kind  matchkey.Kind
						parts []uint64
					}{
						{matchkey.NameDOB, []uint64{g, family, dob}},
						{matchkey.NameDOBDayMonth, []uint64{g, family, yk}},
						{matchkey.NameSwappedDOB, []uint64{min(g, family), max(g, family), dob}},
						{matchkey.InitialSurnameDOBPost, []uint64{g % 26, family, dob, pc}},
						{matchkey.PhoneticDOB, []uint64{gph, fph, dob}},
						{matchkey.NameYOBPostcode, []uint64{g, family, yk, pc}},
						{matchkey.GivenDOBPostcode, []uint64{g, dob, pc}},
						{matchkey.NameDayMonthPostcode, []uint64{g, family, dm, pc}},
						{matchkey.BlockPhoneticYear, []uint64{gph, fph, yk}},
						{matchkey.BlockName, []uint64{g, family}},
						{matchkey.BlockGivenDOB, []uint64{g, dob}},
						{matchkey.BlockGivenPostcode, []uint64{g, pc}},
						{matchkey.BlockPhoneticPost, []uint64{gph, fph, pc}},
						{matchkey.BlockGivenPhoneticFamily, []uint64{g, fph}},
					} {
						if err := add(t.kind, t.parts...); err != nil {
							return err
						}
					}
				}
				for _, t := range []struct {
					kind  matchkey.Kind
					parts []uint64
				}{
					{matchkey.BlockFamilyDOB, []uint64{family, dob}},
					{matchkey.BlockDOBPostcode, []uint64{dob, pc}},
					{matchkey.BlockFamilyPostcode, []uint64{family, pc}},
					{matchkey.BlockPostcodeNumber, []uint64{pc, building}},
					{matchkey.BlockPhoneticFamilyDOB, []uint64{fph, dob}},
				} {
					if err := add(t.kind, t.parts...); err != nil {
						return err
					}
				}
				switch {
				case flat:
					if err := add(matchkey.AddressLine, hh); err != nil {
						return err
					}
				default:
					if err := add(matchkey.House, hh); err != nil {
						return err
					}
				}
				if s.name == "council" && h(17, r)%3 < 2 {
					if err := add(matchkey.UPRN, hh); err != nil {
						return err
					}
				}
				if s.name == "council" {
					if err := add(matchkey.HouseholdGroup, hh); err != nil {
						return err
					}
				}
				if s.name == "dwp" {
					if err := add(matchkey.UnitGroup, hh, m/2); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

// BenchmarkDice compares pairs of 1024-bit filters as the similarity tier
// does: popcounts cached, the common bits counted per pair (the figure
// DESIGN compares with anonlink's native loop).
func BenchmarkDice(b *testing.B) {
	const n = 1024
	fs := make([]filter, n)
	pops := make([]int32, n)
	var x uint64 = 0x9e3779b97f4a7c15
	raw := make([]byte, 128)
	for i := range fs {
		for j := range raw {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			raw[j] = byte(x) & byte(x>>8) // about a quarter of the bits set
		}
		fs[i] = newFilter(raw)
		pops[i] = fs[i].popcount()
	}
	var sum float64
	pairs := 0
	for b.Loop() {
		for i := 1; i < n; i++ {
			sum += 2 * float64(common(&fs[i-1], &fs[i])) / float64(pops[i-1]+pops[i])
		}
		pairs += n - 1
	}
	if sum < 0 {
		b.Fatal("negative Dice")
	}
	b.ReportMetric(float64(pairs)/b.Elapsed().Seconds(), "pairs/s")
}
