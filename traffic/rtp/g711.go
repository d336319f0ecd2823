package rtp

import "math"

// toneFrame returns one 20 ms frame of a 400 Hz tone encoded with codec c.
// 400 Hz is exactly 8 cycles per 20 ms, so repeating the frame is
// seamless: a person replaying a capture in Wireshark hears a clean tone,
// which is a quick check that the media really is G.711.
func toneFrame(c Codec) []byte {
	out := make([]byte, PayloadSize)
	for i := range out {
		v := int16(8000 * math.Sin(2*math.Pi*400*float64(i)/8000))
		if c.PayloadType == PCMA.PayloadType {
			out[i] = linearToALaw(v)
		} else {
			out[i] = linearToULaw(v)
		}
	}
	return out
}

// linearToULaw is the ITU-T G.711 mu-law encoder (bias 0x84, clip 32635).
func linearToULaw(sample int16) byte {
	const bias, clip = 0x84, 32635
	s := int(sample)
	sign := 0
	if s < 0 {
		s = -s
		sign = 0x80
	}
	if s > clip {
		s = clip
	}
	s += bias
	exp := 7
	for mask := 0x4000; s&mask == 0 && exp > 0; mask >>= 1 {
		exp--
	}
	mant := (s >> (exp + 3)) & 0x0f
	return ^byte(sign | exp<<4 | mant)
}

// linearToALaw is the ITU-T G.711 A-law encoder (even bits inverted, 0x55).
func linearToALaw(sample int16) byte {
	s := int(sample) >> 3 // A-law works on 13-bit samples
	sign := 0x80
	if s < 0 {
		s = -s - 1
		sign = 0
	}
	var b int
	if s < 32 {
		b = s >> 1
	} else {
		exp := 1
		for v := s >> 5; v > 1 && exp < 7; v >>= 1 {
			exp++
		}
		if s >= 4096 {
			s, exp = 4095, 7
		}
		b = exp<<4 | (s>>exp)&0x0f
	}
	return byte(sign|b) ^ 0x55
}
