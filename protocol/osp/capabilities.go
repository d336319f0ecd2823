package osp

import "strings"

// CapabilitiesIndication tells the clearinghouse that a device is there
// and whether it is almost out of resources (ETSI TS 101 321; the OSP
// Toolkit's OSPPTransactionIndicateCapabilities).
type CapabilitiesIndication struct {
	ComponentID     string     `xml:"componentId,attr,omitempty"`
	Timestamp       Time       `xml:"Timestamp"`
	DeviceInfo      *Party     `xml:"DeviceInfo,omitempty"`
	SourceAlternate *Party     `xml:"SourceAlternate,omitempty"`
	Resources       *Resources `xml:"Resources,omitempty"`
}

// Resources is the device's resource state.
type Resources struct {
	AlmostOutOfResources string `xml:"AlmostOutOfResources,omitempty"` // "true" or "false"
}

// AlmostOut reports whether the device said it is almost out of resources.
func (c *CapabilitiesIndication) AlmostOut() bool {
	return c.Resources != nil && strings.EqualFold(c.Resources.AlmostOutOfResources, "true")
}

func (c *CapabilitiesIndication) trim() {
	trimParty(c.DeviceInfo)
	trimParty(c.SourceAlternate)
	if c.Resources != nil {
		c.Resources.AlmostOutOfResources = strings.TrimSpace(c.Resources.AlmostOutOfResources)
	}
}

// CapabilitiesConfirmation answers a CapabilitiesIndication.
type CapabilitiesConfirmation struct {
	ComponentID string `xml:"componentId,attr,omitempty"`
	Timestamp   Time   `xml:"Timestamp"`
	Status      Status `xml:"Status"`
}
