package input

import (
	"fmt"
	"strings"
)

// The identifiers of a record, in the order of blueshift.Customer.
const (
	SlotEmail = iota
	SlotCustomerID
	SlotCookie
	SlotDeviceID
	NumSlots
)

// SlotNames are the identifiers' JSON names.
var SlotNames = [NumSlots]string{"email", "customer_id", "cookie", "device_id"}

// SlotFlag is the --…-column flag of a slot.
func SlotFlag(slot int) string {
	return "--" + strings.ReplaceAll(SlotNames[slot], "_", "-") + "-column"
}

// slotAliases are the names that hold each identifier when no flag names
// one, as ColumnRule compares them.
var slotAliases = [NumSlots][]string{{"email", "email address"}, {"customer_id"}, {"cookie"}, {"device_id"}}

// columnNone, as the value of a --…-column flag, means "do not use this
// identifier".
const columnNone = "none"

// ColumnRule is the one rule by which CSV header columns and JSON members
// are matched to identifiers: names compare ignoring case, white space,
// '_' and '-' (see normalizeColumn). A --…-column flag replaces its
// identifier's aliases with the name it gives, or with nothing for "none".
// A flag that names one of another identifier's aliases moves that column:
// the other identifier then has no alias left, and is read only from the
// column its own flag names, if any. So "--customer-id-column email"
// reads the customer_id from the email column and sends no email.
type ColumnRule struct {
	Flags [NumSlots]string // as given; "" uses the aliases
}

// off reports whether slot was turned off with "none".
func (r ColumnRule) off(slot int) bool { return strings.EqualFold(r.Flags[slot], columnNone) }

// names returns the names that hold slot.
func (r ColumnRule) names(slot int) []string {
	switch {
	case r.off(slot):
		return nil
	case r.Flags[slot] != "":
		return []string{r.Flags[slot]}
	case r.aliasTaken(slot):
		return nil
	}
	return slotAliases[slot]
}

// aliasTaken reports whether another identifier's flag names one of
// slot's aliases.
func (r ColumnRule) aliasTaken(slot int) bool {
	for other, flag := range r.Flags {
		if other == slot || flag == "" || r.off(other) {
			continue
		}
		for _, alias := range slotAliases[slot] {
			if normalizeColumn(alias) == normalizeColumn(flag) {
				return true
			}
		}
	}
	return false
}

// Problem returns what is wrong with the flags, or "": a name with
// nothing left to compare once normalised, every identifier turned off,
// or two flags that name one column, which would read one value as two
// identifiers.
func (r ColumnRule) Problem() string {
	off := 0
	for slot, flag := range r.Flags {
		switch {
		case r.off(slot):
			off++
		case flag != "" && normalizeColumn(flag) == "":
			return fmt.Sprintf("%s %q names no column: a name needs a letter or digit (names match ignoring case, spaces, _ and -)", SlotFlag(slot), flag)
		}
	}
	if off == NumSlots {
		return fmt.Sprintf("every identifier is turned off (%s, %s, %s and %s are all none): nothing could be sent", SlotFlag(0), SlotFlag(1), SlotFlag(2), SlotFlag(3))
	}
	for a := range NumSlots {
		for b := a + 1; b < NumSlots; b++ {
			if r.given(a) && r.given(b) && normalizeColumn(r.Flags[a]) == normalizeColumn(r.Flags[b]) {
				return fmt.Sprintf("%s and %s name the same column, %q: one column holds one identifier", SlotFlag(a), SlotFlag(b), r.Flags[a])
			}
		}
	}
	return ""
}

// given reports whether slot's flag names a column.
func (r ColumnRule) given(slot int) bool { return r.Flags[slot] != "" && !r.off(slot) }

// slotOf returns the identifier a column or member name holds.
func (r ColumnRule) slotOf(name string) (int, bool) {
	n := normalizeColumn(name)
	for slot := range NumSlots {
		for _, want := range r.names(slot) {
			if normalizeColumn(want) == n {
				return slot, true
			}
		}
	}
	return 0, false
}

// normalizeColumn lower-cases a column name and drops what an identifier
// is trimmed of (white space, U+200B, U+FEFF), '_' and '-', so that
// "Email Address", "e-mail" and "EMAIL_ADDRESS" compare equal.
func normalizeColumn(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if !trimmable(r) && r != '_' && r != '-' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// describeColumns words where each identifier is read from, for the line
// every bulk run prints before it sends anything: source(slot) names the
// column or members, or returns "" for none.
func describeColumns(source func(slot int) string) string {
	parts := make([]string, NumSlots)
	for slot := range NumSlots {
		if s := source(slot); s != "" {
			parts[slot] = SlotNames[slot] + " from " + s
		} else {
			parts[slot] = SlotNames[slot] + " " + columnNone
		}
	}
	return "identifiers: " + strings.Join(parts, ", ")
}

// quoteNames quotes names for a message: "a", "a" or "b".
func quoteNames(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, " or ")
}
