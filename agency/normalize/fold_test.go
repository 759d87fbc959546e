package normalize

import "testing"

// FuzzFoldASCII checks that fold's ASCII fast path (appendFoldASCII)
// gives exactly the bytes of the general path (foldGeneral), in both
// modes, on arbitrary text and on that text with every byte made ASCII
// (where the fast path is taken). A difference would make two agencies
// write the same value differently and break linkage between them.
func FuzzFoldASCII(f *testing.F) {
	for _, s := range []string{
		"O'Brien", "O`Brien", "Smith-Jones", "Mary  Jane", " MR. J. SMITH ", "14/2-3", "1/-2", "2-/3",
		"a/b", "/a", "a/", "1-", "-1", "1--2", "12-14 High St.", "Flat 2/14", "d'/1", "1'/2", "x'-1",
		"FLAT 12, 4 MAPLE LN", "ls1 1ab", "\t\n\r\x00\x7f", "Zoë", "O’Brien", "ＡＢＣ１２", "ß/1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ascii := []byte(s)
		for i := range ascii {
			ascii[i] &= 0x7f
		}
		for _, in := range []string{s, string(ascii)} {
			for _, mode := range []foldMode{foldName, foldAddress} {
				want := foldGeneral(in, mode)
				if got := fold(in, mode); got != want {
					t.Fatalf("fold(%q, %d) = %q, general path %q", in, mode, got, want)
				}
				if got := string(appendFold([]byte("x "), in, mode)); got != "x "+want {
					t.Fatalf("appendFold(\"x \", %q, %d) = %q, want %q", in, mode, got, "x "+want)
				}
				if isASCII(in) {
					if got := string(appendFoldASCII(nil, in, mode)); got != want {
						t.Fatalf("appendFoldASCII(%q, %d) = %q, general path %q", in, mode, got, want)
					}
				}
			}
		}
	})
}

// TestFoldASCIIEveryPair runs the fast and general paths over every text
// of up to three ASCII characters drawn from the characters fold treats
// differently, in both modes.
func TestFoldASCIIEveryPair(t *testing.T) {
	alphabet := "aZ09 -/'`.,\t"
	var texts []string
	for _, a := range alphabet {
		texts = append(texts, string(a))
		for _, b := range alphabet {
			texts = append(texts, string(a)+string(b))
			for _, c := range alphabet {
				texts = append(texts, string(a)+string(b)+string(c))
			}
		}
	}
	for _, s := range texts {
		for _, mode := range []foldMode{foldName, foldAddress} {
			if got, want := fold(s, mode), foldGeneral(s, mode); got != want {
				t.Errorf("fold(%q, %d) = %q, general path %q", s, mode, got, want)
			}
		}
	}
}
