package keys

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"tfmatch/matchkey"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json from the current code")

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// TestPrimitivesRFC checks the primitives against the published vectors of
// RFC 4231 (HMAC-SHA256) and RFC 5869 (HKDF-SHA256).
func TestPrimitivesRFC(t *testing.T) {
	// RFC 4231, test case 2.
	mac := hmacSHA256([]byte("Jefe"), []byte("what do ya want for nothing?"))
	if got, want := hex.EncodeToString(mac[:]), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"; got != want {
		t.Errorf("HMAC-SHA256 RFC 4231 case 2 = %s, want %s", got, want)
	}
	// RFC 5869, test case 1.
	ikm := unhex(t, "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b")
	salt := unhex(t, "000102030405060708090a0b0c")
	info := string(unhex(t, "f0f1f2f3f4f5f6f7f8f9"))
	okm, err := hkdfSHA256(ikm, salt, info, 42)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := hex.EncodeToString(okm), "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"; got != want {
		t.Errorf("HKDF-SHA256 RFC 5869 case 1 = %s, want %s", got, want)
	}
}

func TestAppendCanonical(t *testing.T) {
	tests := []struct {
		fields []string
		want   string
	}{
		{nil, "00000000"},
		{[]string{""}, "0000000100000000"},
		{[]string{"ab"}, "00000001000000026162"},
		{[]string{"a", "b"}, "0000000200000001610000000162"},
		{[]string{"a|b"}, "0000000100000003617c62"},
	}
	for _, tt := range tests {
		if got := hex.EncodeToString(AppendCanonical(nil, tt.fields)); got != tt.want {
			t.Errorf("AppendCanonical(%q) = %s, want %s", tt.fields, got, tt.want)
		}
	}
	// Injectivity on the classic join ambiguity.
	pairs := [][2][]string{
		{{"a|b"}, {"a", "b"}},
		{{"ab", ""}, {"a", "b"}},
		{{"", "ab"}, {"ab", ""}},
		{{"a"}, {"a", ""}},
	}
	for _, p := range pairs {
		if bytes.Equal(AppendCanonical(nil, p[0]), AppendCanonical(nil, p[1])) {
			t.Errorf("encodings of %q and %q collide", p[0], p[1])
		}
	}
}

// vectorFile is the published format of testdata/vectors.json.
type vectorFile struct {
	Comment string        `json:"comment"`
	Tokens  []tokenVector `json:"tokens"`
	Refs    []refVector   `json:"refs"`
	Blinds  []blindVector `json:"blinds"`
	// Added with the similarity tier; the sections above are unchanged.
	BloomComment string        `json:"bloom_comment,omitempty"`
	Blooms       []bloomVector `json:"blooms,omitempty"`
	Perms        []permVector  `json:"filter_permutations,omitempty"`
}

type bloomVector struct {
	ProgrammeSecret string   `json:"programme_secret"`
	ISAHash         string   `json:"isa_hash"`
	Epoch           uint32   `json:"epoch"`
	Field           string   `json:"field"`
	BloomKey        string   `json:"bloom_key"` // hex
	Gram            string   `json:"gram"`
	Bits            int      `json:"bits"`
	Positions       []uint16 `json:"positions"`
}

type permVector struct {
	BlindingKey string `json:"blinding_key"`
	// First16 is the start of the permutation; SHA256 hashes all of it,
	// each entry as a big-endian uint16.
	First16 []uint16 `json:"first16"`
	SHA256  string   `json:"sha256"`
	Filter  string   `json:"filter"`   // hex, before
	Permute string   `json:"permuted"` // hex, after
}

type tokenVector struct {
	ProgrammeSecret string   `json:"programme_secret"` // text encoding
	ISAHash         string   `json:"isa_hash"`         // hex
	Epoch           uint32   `json:"epoch"`
	Kind            string   `json:"kind"`
	Fields          []string `json:"fields"`
	Canonical       string   `json:"canonical"` // hex
	TokenKey        string   `json:"token_key"` // hex
	Token           string   `json:"token"`     // hex
}

type refVector struct {
	LocalKey string `json:"local_key"`
	LocalID  string `json:"local_id"`
	Ref      string `json:"ref"`
	GroupRef string `json:"group_ref"`
	Group    string `json:"group_token"`
}

type blindVector struct {
	BlindingKey string `json:"blinding_key"`
	Token       string `json:"token"`
	Blinded     string `json:"blinded"`
}

func fixedSecret(b byte) secret32 {
	var s secret32
	for i := range s {
		s[i] = b + byte(i)
	}
	return s
}

func buildVectors(t *testing.T) vectorFile {
	t.Helper()
	p := ProgrammeSecret{fixedSecret(0x00)}
	ptext, _ := p.MarshalText()
	isa := HashISA([]byte("tfmatch example ISA\n"))
	inputs := []struct {
		kind   matchkey.Kind
		epoch  uint32
		fields []string
	}{
		{matchkey.NINO, 1, []string{"QQ123456C"}},
		{matchkey.NameDOB, 1, []string{"william", "smith", "2013-04-01"}},
		{matchkey.NameDOB, 2, []string{"william", "smith", "2013-04-01"}},
		{matchkey.NameDOBDayMonth, 1, []string{"william", "smith", "2013", "01", "04"}},
		{matchkey.AddressLine, 1, []string{"LS1 4AP", "14", ""}},
		{matchkey.PhoneticDOB, 1, []string{"zoe", "obrien", "1990-12-31"}},
	}
	var vf vectorFile
	vf.Comment = "tfmatch v1 test vectors: token = HMAC-SHA256(HKDF-SHA256(P, salt=isa_hash, info=\"tfmatch/v1/<kind>/<epoch>\"), canonical); ref = HMAC-SHA256(L, id)[:16]; group_token = HMAC-SHA256(HKDF-SHA256(L, salt=empty, info=\"tfmatch/v1/local/group\"), canonical([group_ref])); blinded = HMAC-SHA256(M, token). Secrets in their text encodings (prefix then base64url, no padding)."
	for _, in := range inputs {
		k, err := p.TokenKey(in.kind, Context{ISAHash: isa, Epoch: in.epoch})
		if err != nil {
			t.Fatal(err)
		}
		tok := k.Token(in.fields...)
		vf.Tokens = append(vf.Tokens, tokenVector{
			ProgrammeSecret: string(ptext),
			ISAHash:         hex.EncodeToString(isa[:]),
			Epoch:           in.epoch,
			Kind:            string(in.kind),
			Fields:          in.fields,
			Canonical:       hex.EncodeToString(AppendCanonical(nil, in.fields)),
			TokenKey:        hex.EncodeToString(k.k[:]),
			Token:           hex.EncodeToString(tok[:]),
		})
	}
	l := LocalKey{fixedSecret(0x40)}
	ltext, _ := l.MarshalText()
	gk, err := l.GroupKey(matchkey.HouseholdGroup)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"NOM-000123", "", "12345"} {
		r := l.Ref(id)
		g := gk.Token("BU-77")
		vf.Refs = append(vf.Refs, refVector{string(ltext), id, hex.EncodeToString(r[:]), "BU-77", hex.EncodeToString(g[:])})
	}
	m := BlindingKey{fixedSecret(0x80)}
	mtext, _ := m.MarshalText()
	for _, tv := range vf.Tokens[:2] {
		var tok Token
		copy(tok[:], unhex(t, tv.Token))
		b := m.Blind(tok)
		vf.Blinds = append(vf.Blinds, blindVector{string(mtext), tv.Token, hex.EncodeToString(b[:])})
	}
	vf.BloomComment = bloomComment
	for _, in := range []struct {
		field string
		epoch uint32
		gram  string
		bits  int
	}{
		{"given", 1, "_w", 15},
		{"given", 1, "wi", 15},
		{"family", 1, "wi", 15},
		{"given", 2, "wi", 15},
		{"dob", 1, "y:2013", 16},
		{"sex", 1, "m", 4},
	} {
		c := Context{ISAHash: isa, Epoch: in.epoch}
		bk, err := p.BloomKey(in.field, c)
		if err != nil {
			t.Fatal(err)
		}
		vf.Blooms = append(vf.Blooms, bloomVector{
			ProgrammeSecret: string(ptext),
			ISAHash:         hex.EncodeToString(isa[:]),
			Epoch:           in.epoch,
			Field:           in.field,
			BloomKey:        hex.EncodeToString(bk.k[:]),
			Gram:            in.gram,
			Bits:            in.bits,
			Positions:       bk.Positions(nil, in.gram, in.bits),
		})
	}
	for _, b := range []byte{0x80, 0xc0} {
		m := BlindingKey{fixedSecret(b)}
		mtext, _ := m.MarshalText()
		perm, err := m.FilterPermutation()
		if err != nil {
			t.Fatal(err)
		}
		var f Filter
		for i := 0; i < FilterBits; i += 7 {
			f.Set(i)
		}
		pf := perm.Apply(f)
		vf.Perms = append(vf.Perms, permVector{
			BlindingKey: string(mtext),
			First16:     slices.Clone(perm[:16]),
			SHA256:      permHash(perm[:]),
			Filter:      hex.EncodeToString(f[:]),
			Permute:     hex.EncodeToString(pf[:]),
		})
	}
	return vf
}

// TestVectors checks the published vectors in testdata/vectors.json twice:
// through this package's API, and through an independent computation from
// the standard library following RFC 5869 step by step.
func TestVectors(t *testing.T) {
	path := filepath.Join("testdata", "vectors.json")
	if *update {
		b, err := json.MarshalIndent(buildVectors(t), "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var vf vectorFile
	if err := json.Unmarshal(raw, &vf); err != nil {
		t.Fatal(err)
	}
	if len(vf.Tokens) == 0 || len(vf.Refs) == 0 || len(vf.Blinds) == 0 {
		t.Fatal("vector file has an empty section")
	}
	for i, v := range vf.Tokens {
		var p ProgrammeSecret
		if err := p.UnmarshalText([]byte(v.ProgrammeSecret)); err != nil {
			t.Fatal(err)
		}
		var c Context
		copy(c.ISAHash[:], unhex(t, v.ISAHash))
		c.Epoch = v.Epoch
		if got := hex.EncodeToString(AppendCanonical(nil, v.Fields)); got != v.Canonical {
			t.Errorf("token %d: canonical = %s, want %s", i, got, v.Canonical)
		}
		k, err := p.TokenKey(matchkey.Kind(v.Kind), c)
		if err != nil {
			t.Fatal(err)
		}
		tok := k.Token(v.Fields...)
		if got := hex.EncodeToString(tok[:]); got != v.Token {
			t.Errorf("token %d (%s): API token = %s, want %s", i, v.Kind, got, v.Token)
		}
		if got := k.NewTokenizer().Token(v.Fields); hex.EncodeToString(got[:]) != v.Token {
			t.Errorf("token %d: Tokenizer disagrees with TokenKey.Token", i)
		}
		// Independent: HKDF-Extract then one block of HKDF-Expand.
		prk := independentHMAC(c.ISAHash[:], p.s[:])
		okm := independentHMAC(prk, append([]byte("tfmatch/v1/"+v.Kind+"/"+itoa(v.Epoch)), 0x01))
		if got := hex.EncodeToString(okm); got != v.TokenKey {
			t.Errorf("token %d: independent key = %s, want %s", i, got, v.TokenKey)
		}
		if got := hex.EncodeToString(independentHMAC(okm, unhex(t, v.Canonical))); got != v.Token {
			t.Errorf("token %d: independent token = %s, want %s", i, got, v.Token)
		}
	}
	for i, v := range vf.Refs {
		var l LocalKey
		if err := l.UnmarshalText([]byte(v.LocalKey)); err != nil {
			t.Fatal(err)
		}
		r := l.Ref(v.LocalID)
		if got := hex.EncodeToString(r[:]); got != v.Ref {
			t.Errorf("ref %d: %s, want %s", i, got, v.Ref)
		}
		// A RefMaker reused across ids gives the same references.
		rm := l.NewRefMaker()
		for range 2 {
			if got := rm.Ref(v.LocalID); got != r {
				t.Errorf("ref %d: RefMaker %x, want %x", i, got, r)
			}
			rm.Ref("another id")
		}
		if got := hex.EncodeToString(independentHMAC(l.s[:], []byte(v.LocalID))[:16]); got != v.Ref {
			t.Errorf("ref %d: independent %s, want %s", i, got, v.Ref)
		}
		gk, err := l.GroupKey(matchkey.HouseholdGroup)
		if err != nil {
			t.Fatal(err)
		}
		g := gk.Token(v.GroupRef)
		if got := hex.EncodeToString(g[:]); got != v.Group {
			t.Errorf("group %d: %s, want %s", i, got, v.Group)
		}
		prk := independentHMAC(make([]byte, 32), l.s[:]) // RFC 5869: empty salt = HashLen zeros
		gkey := independentHMAC(prk, append([]byte("tfmatch/v1/local/group"), 0x01))
		if got := hex.EncodeToString(independentHMAC(gkey, AppendCanonical(nil, []string{v.GroupRef}))); got != v.Group {
			t.Errorf("group %d: independent %s, want %s", i, got, v.Group)
		}
	}
	for i, v := range vf.Blinds {
		var m BlindingKey
		if err := m.UnmarshalText([]byte(v.BlindingKey)); err != nil {
			t.Fatal(err)
		}
		var tok Token
		copy(tok[:], unhex(t, v.Token))
		b := m.Blind(tok)
		if got := hex.EncodeToString(b[:]); got != v.Blinded {
			t.Errorf("blind %d: %s, want %s", i, got, v.Blinded)
		}
		if b2 := m.NewBlinder().Blind(tok); b2 != b {
			t.Errorf("blind %d: Blinder disagrees with Blind", i)
		}
	}
	testBloomVectors(t, vf)
}

const bloomComment = "similarity tier: bloom_key = HKDF-SHA256(P, salt=isa_hash, info=\"tfmatch/v1/bloom/<field>/<epoch>\"); positions[i] = big-endian uint16 chunk i of HMAC-SHA256(bloom_key, gram) mod 1024, i < bits; filter permutation = Fisher-Yates over 0..1023 (i from 1023 down to 1, j = w mod (i+1) for successive big-endian uint16 words w of HKDF-SHA256(M, salt=empty, info=\"tfmatch/v1/filter-permutation\"), rejecting w >= 65536 - 65536 mod (i+1)); bit i of a filter is bit i%8 (LSB first) of byte i/8 and moves to bit perm[i]."

func permHash(p []uint16) string {
	h := sha256.New()
	for _, v := range p {
		h.Write([]byte{byte(v >> 8), byte(v)})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// independentHKDF is RFC 5869 written out: extract, then expand block by
// block.
func independentHKDF(secret, salt []byte, info string, n int) []byte {
	if salt == nil {
		salt = make([]byte, 32)
	}
	prk := independentHMAC(salt, secret)
	var out, prev []byte
	for c := byte(1); len(out) < n; c++ {
		prev = independentHMAC(prk, append(append(slices.Clone(prev), info...), c))
		out = append(out, prev...)
	}
	return out[:n]
}

// independentPermutation follows the documented shuffle without the
// package's code.
func independentPermutation(m []byte) []uint16 {
	stream := independentHKDF(m, nil, "tfmatch/v1/filter-permutation", 255*32)
	p := make([]uint16, 1024)
	for i := range p {
		p[i] = uint16(i)
	}
	for i := 1023; i > 0; i-- {
		n := i + 1
		for {
			w := int(stream[0])<<8 | int(stream[1])
			stream = stream[2:]
			if w < 65536-65536%n {
				j := w % n
				p[i], p[j] = p[j], p[i]
				break
			}
		}
	}
	return p
}

func testBloomVectors(t *testing.T, vf vectorFile) {
	if len(vf.Blooms) == 0 || len(vf.Perms) == 0 {
		t.Fatal("vector file has no bloom or permutation vectors")
	}
	for i, v := range vf.Blooms {
		var p ProgrammeSecret
		if err := p.UnmarshalText([]byte(v.ProgrammeSecret)); err != nil {
			t.Fatal(err)
		}
		var c Context
		copy(c.ISAHash[:], unhex(t, v.ISAHash))
		c.Epoch = v.Epoch
		bk, err := p.BloomKey(v.Field, c)
		if err != nil {
			t.Fatal(err)
		}
		if got := bk.Positions(nil, v.Gram, v.Bits); !slices.Equal(got, v.Positions) {
			t.Errorf("bloom %d: positions %v, want %v", i, got, v.Positions)
		}
		var f, g Filter
		bk.NewBloomHasher().Add(&f, v.Gram, v.Bits)
		for _, pos := range v.Positions {
			g.Set(int(pos))
		}
		if f != g {
			t.Errorf("bloom %d: BloomHasher disagrees with Positions", i)
		}
		var fb Filter
		bh := bk.NewBloomHasher()
		bh.AddBytes(&Filter{}, []byte("another gram"), 16)
		bh.AddBytes(&fb, []byte(v.Gram), v.Bits)
		if fb != g {
			t.Errorf("bloom %d: BloomHasher.AddBytes disagrees with Positions", i)
		}
		key := independentHKDF(p.s[:], c.ISAHash[:], "tfmatch/v1/bloom/"+v.Field+"/"+itoa(v.Epoch), 32)
		if got := hex.EncodeToString(key); got != v.BloomKey {
			t.Errorf("bloom %d: independent key %s, want %s", i, got, v.BloomKey)
		}
		sum := independentHMAC(key, []byte(v.Gram))
		for j, pos := range v.Positions {
			if want := (uint16(sum[2*j])<<8 | uint16(sum[2*j+1])) % 1024; pos != want {
				t.Errorf("bloom %d: independent position %d = %d, want %d", i, j, want, pos)
			}
		}
	}
	for i, v := range vf.Perms {
		var m BlindingKey
		if err := m.UnmarshalText([]byte(v.BlindingKey)); err != nil {
			t.Fatal(err)
		}
		perm, err := m.FilterPermutation()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(perm[:16], v.First16) || permHash(perm[:]) != v.SHA256 {
			t.Errorf("permutation %d: does not match the vector", i)
		}
		if ind := independentPermutation(m.s[:]); !slices.Equal(ind, perm[:]) {
			t.Errorf("permutation %d: independent shuffle disagrees", i)
		}
		var f Filter
		copy(f[:], unhex(t, v.Filter))
		pf := perm.Apply(f)
		if got := hex.EncodeToString(pf[:]); got != v.Permute {
			t.Errorf("permutation %d: permuted filter %s, want %s", i, got, v.Permute)
		}
	}
}

func independentHMAC(key, msg []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(msg)
	return h.Sum(nil)
}

func itoa(n uint32) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestKindsAndEpochsSeparate(t *testing.T) {
	p := ProgrammeSecret{fixedSecret(1)}
	c := Context{Epoch: 1}
	fields := []string{"x", "y", "z"}
	seen := map[Token]string{}
	for _, in := range matchkey.All() {
		for _, ep := range []uint32{1, 2} {
			c.Epoch = ep
			k, err := p.TokenKey(in.Kind, c)
			if err != nil {
				t.Fatal(err)
			}
			tok := k.Token(fields...)
			label := string(in.Kind) + "/" + itoa(ep)
			if prev, dup := seen[tok]; dup {
				t.Errorf("kinds %s and %s produce the same token", prev, label)
			}
			seen[tok] = label
		}
	}
	c2 := Context{Epoch: 1, ISAHash: HashISA([]byte("other"))}
	k1, _ := p.TokenKey(matchkey.NameDOB, Context{Epoch: 1})
	k2, _ := p.TokenKey(matchkey.NameDOB, c2)
	if k1.Token(fields...) == k2.Token(fields...) {
		t.Error("different ISA hashes produce the same token")
	}
	if _, err := p.TokenKey("no_such_kind", c); err == nil {
		t.Error("unknown kind accepted")
	}
}

func TestTextEncoding(t *testing.T) {
	p, err := NewProgrammeSecret()
	if err != nil {
		t.Fatal(err)
	}
	text, _ := p.MarshalText()
	var back ProgrammeSecret
	if err := back.UnmarshalText(text); err != nil || !back.Equal(p) {
		t.Fatalf("round trip failed: %v", err)
	}
	if strings.Contains(p.String(), string(text[len(prefixProgramme):])) {
		t.Error("String reveals the secret")
	}
	var l LocalKey
	if err := l.UnmarshalText(text); err == nil {
		t.Error("a programme secret was accepted as a local key")
	}
	bad := []string{"", prefixProgramme, prefixProgramme + "!!!!", prefixProgramme + "AAAA", "tfmatch-programme-secret-v2:" + string(text[len(prefixProgramme):])}
	for _, b := range bad {
		if err := back.UnmarshalText([]byte(b)); err == nil {
			t.Errorf("accepted %q", b)
		}
	}
}

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "blinding.key")
	m, err := NewBlindingKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, m); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	if err := WriteFile(path, m); err == nil {
		t.Error("WriteFile replaced an existing key")
	}
	var back BlindingKey
	if err := ReadFile(path, &back); err != nil || !back.Equal(m) {
		t.Fatalf("read back: %v", err)
	}
}

func FuzzUnmarshalText(f *testing.F) {
	f.Add([]byte(prefixProgramme + "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var p ProgrammeSecret
		if err := p.UnmarshalText(b); err != nil {
			return
		}
		text, _ := p.MarshalText()
		var q ProgrammeSecret
		if err := q.UnmarshalText(text); err != nil || !q.Equal(p) {
			t.Fatalf("re-encoding does not round trip: %v", err)
		}
	})
}

func BenchmarkHMACSHA256Limit(b *testing.B) {
	// The machine's limit: HMAC-SHA256 of a short key with reused state.
	mac := hmac.New(sha256.New, make([]byte, 32))
	msg := AppendCanonical(nil, []string{"william", "smith", "2013-04-01"})
	var out [32]byte
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		mac.Reset()
		mac.Write(msg)
		mac.Sum(out[:0])
	}
}

// TestBlinderReused checks that one Blinder, used for token after token,
// gives what BlindingKey.Blind gives for each, and that it allocates
// nothing per token: the matcher blinds every token it receives.
func TestBlinderReused(t *testing.T) {
	m := BlindingKey{fixedSecret(7)}
	bl := m.NewBlinder()
	for i := range 50 {
		var tok Token
		for j := range tok {
			tok[j] = byte(i*31 + j)
		}
		if got, want := bl.Blind(tok), m.Blind(tok); got != want {
			t.Fatalf("token %d: reused Blinder gives %x, Blind %x", i, got, want)
		}
	}
	var tok Token
	if n := testing.AllocsPerRun(100, func() { tok[0]++; bl.Blind(tok) }); n != 0 {
		t.Errorf("Blind allocates %.0f times per token, want 0", n)
	}
}

func BenchmarkBlinder(b *testing.B) {
	m := BlindingKey{fixedSecret(7)}
	bl := m.NewBlinder()
	var tok Token
	b.ReportAllocs()
	for b.Loop() {
		tok[0]++
		bl.Blind(tok)
	}
}

func BenchmarkTokenizer(b *testing.B) {
	p := ProgrammeSecret{fixedSecret(2)}
	k, _ := p.TokenKey(matchkey.NameDOB, Context{Epoch: 1})
	tz := k.NewTokenizer()
	fields := []string{"william", "smith", "2013-04-01"}
	for b.Loop() {
		tz.Token(fields)
	}
}
