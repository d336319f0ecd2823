package topology

import (
	"reflect"
	"strings"
	"testing"
)

// The mount tables below are what /proc/self/mountinfo showed (trimmed to
// the lines that matter) in the situations qoslab must get out of.
const (
	rootLine = "26 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"

	// `qoslab up` made /run/netns a shared mount of its own (65); then
	// someone ran `mount --bind /run/netns /run/netns` (90), which shows
	// the same directory without the namespace mounts.
	aliasOnShared = rootLine +
		"65 26 254:0 /run/netns /run/netns rw,relatime shared:1 - ext4 /dev/vda rw\n" +
		"66 65 0:4 net:[4026532239] /run/netns/qoslab-rp-r1 rw shared:2 - nsfs nsfs rw\n" +
		"67 65 0:4 net:[4026532369] /run/netns/qoslab-rp-sip1 rw shared:3 - nsfs nsfs rw\n" +
		"90 65 254:0 /run/netns /run/netns rw,relatime shared:1 - ext4 /dev/vda rw\n"

	// An older qoslab bound its namespaces on a plain /run/netns (66,
	// 73); then `ip netns add e2efoo` bound the directory on itself
	// recursively (74), copying them (76, 83) and mounting its own (84).
	ipnetnsOnPlain = rootLine +
		"66 26 0:4 net:[4026532239] /run/netns/qoslab-rq-uac rw - nsfs nsfs rw\n" +
		"73 26 0:4 net:[4026532634] /run/netns/qoslab-rq-r1 rw - nsfs nsfs rw\n" +
		"74 26 254:0 /run/netns /run/netns rw,relatime shared:1 - ext4 /dev/vda rw\n" +
		"76 74 0:4 net:[4026532239] /run/netns/qoslab-rq-uac rw shared:3 - nsfs nsfs rw\n" +
		"83 74 0:4 net:[4026532634] /run/netns/qoslab-rq-r1 rw shared:10 - nsfs nsfs rw\n"
	ipnetnsOwn = "84 74 0:4 net:[4026532775] /run/netns/e2efoo rw shared:11 - nsfs nsfs rw\n"
)

func mustParse(t *testing.T, s string) []mount {
	t.Helper()
	ms, err := parseMountinfo(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func TestPlanUncover(t *testing.T) {
	for _, tc := range []struct {
		name, table string
		names       []string
		want        coverPlan
		err         string
	}{
		{name: "nothing hidden under ip netns' own mount", names: []string{"qoslab-rp-r1"},
			table: rootLine + "65 26 254:0 /run/netns /run/netns rw shared:1 - ext4 /dev/vda rw\n" +
				"66 65 0:4 net:[4026532239] /run/netns/qoslab-rp-r1 rw shared:2 - nsfs nsfs rw\n"},
		{name: "plain directory", names: []string{"qoslab-rq-uac"},
			table: rootLine + "66 26 0:4 net:[4026532239] /run/netns/qoslab-rq-uac rw - nsfs nsfs rw\n"},
		{name: "alias bound on the shared mount", table: aliasOnShared,
			names: []string{"qoslab-rp-r1", "qoslab-rp-sip1", "qoslab-rp-gone"},
			want:  coverPlan{Hidden: []string{"qoslab-rp-r1", "qoslab-rp-sip1"}, Unmount: 1}},
		{name: "two aliases", table: aliasOnShared + "91 90 254:0 /run/netns /run/netns rw shared:1 - ext4 /dev/vda rw\n",
			names: []string{"qoslab-rp-r1"},
			want:  coverPlan{Hidden: []string{"qoslab-rp-r1"}, Unmount: 2}},
		{name: "recursive copy by ip netns add on a plain directory", table: ipnetnsOnPlain,
			names: []string{"qoslab-rq-uac", "qoslab-rq-r1"},
			want:  coverPlan{Hidden: []string{"qoslab-rq-uac", "qoslab-rq-r1"}, Unmount: 1}},
		{name: "the cover holds a namespace of its own", table: ipnetnsOnPlain + ipnetnsOwn,
			names: []string{"qoslab-rq-uac"},
			err:   "which also holds /run/netns/e2efoo (net:[4026532775]), mounted nowhere beneath it"},
		{name: "the cover is another directory", names: []string{"qoslab-rp-r1"},
			table: rootLine + "65 26 254:0 /run/netns /run/netns rw shared:1 - ext4 /dev/vda rw\n" +
				"66 65 0:4 net:[4026532239] /run/netns/qoslab-rp-r1 rw shared:2 - nsfs nsfs rw\n" +
				"90 65 0:40 / /run/netns rw - tmpfs tmpfs rw\n",
			err: "which is not the same directory (0:40 /) as what it covers (254:0 /run/netns)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := planUncover(mustParse(t, tc.table), "/run/netns", tc.names)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one saying %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("plan %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestUnescapeMount(t *testing.T) {
	ms := mustParse(t, `70 26 254:0 /my\040dir /mnt/my\040dir rw - ext4 /dev/vda rw`+"\n")
	if ms[0].Point != "/mnt/my dir" || ms[0].Root != "/my dir" {
		t.Fatalf("%+v", ms[0])
	}
}
