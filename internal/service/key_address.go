package service

import "github.com/keyward/keyward/internal/policy"

// checkAddresses validates an address allowlist and puts it in canonical
// form, sorted and without repeats; an empty one becomes nil (any
// address), so that an empty list and none are stored alike.
func checkAddresses(addrs *[]string) error {
	out, _, err := policy.ParseAddresses("allowed_addresses", *addrs)
	if err != nil {
		return err
	}
	*addrs = out
	return nil
}
