package proxy

import (
	"context"
	"fmt"
	"net/netip"
)

// copsDialer connects to the PDP at addr over COPS (client-type 0x5153).
// TODO(cops): adapt to protocol/cops's PEP connection when it lands.
func copsDialer(addr netip.AddrPort) Dialer {
	return func(ctx context.Context) (PolicyClient, error) {
		return nil, fmt.Errorf("proxy: COPS PEP to %s: protocol/cops PEP not available", addr)
	}
}
