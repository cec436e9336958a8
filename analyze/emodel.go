package analyze

import (
	"fmt"
	"math"
	"strings"
)

// The ITU-T G.107 E-model, reduced to what a packet capture measures.
//
// With every parameter at its G.107 default the model gives R = 93.2
// (G.107 §7.7 and Table 3): R0 - Is - Id(T=0) - Ie,eff + A with the default
// loudness, noise and echo values. The capture changes three inputs:
//
//   - Ie,eff, the equipment impairment under packet loss (G.107 eq. 7-29):
//     Ie,eff = Ie + (95 - Ie) * Ppl / (Ppl/BurstR + Bpl), with the codec's
//     Ie and Bpl from ITU-T G.113 Appendix I, Ppl the measured loss in
//     percent and BurstR the burst ratio (mean observed burst length over
//     the mean burst length of random loss at the same rate, at least 1);
//   - Idd, the delay impairment (G.107 eq. 7-27), for a one-way delay Ta
//     above 100 ms: Idd = 25 * ((1+X^6)^(1/6) - 3*(1+(X/3)^6)^(1/6) + 2),
//     X = log2(Ta/100);
//   - Ta is estimated, since one capture point cannot measure one-way
//     delay: the packet interval (packetisation) plus a jitter buffer of
//     twice the maximum jitter plus 10 ms of codec processing.
//
// R = 93.2 - Idd - Ie,eff; MOS = 1 + 0.035R + R(R-60)(100-R)*7e-6 for
// 0 < R < 100 (G.107 Annex B).
const emodelDefaultR = 93.2

// codecImpairment is a codec's equipment impairment Ie and packet-loss
// robustness Bpl (ITU-T G.113 Appendix I, Table I.1 and I.3).
type codecImpairment struct {
	Ie, Bpl float64
	Source  string
}

// codecImpairments by encoding name (lower case). G.711 is taken with
// packet loss concealment (G.113 Table I.3: Bpl 25.1).
var codecImpairments = map[string]codecImpairment{
	"pcmu":    {0, 25.1, "G.711 with PLC (G.113 Table I.3)"},
	"pcma":    {0, 25.1, "G.711 with PLC (G.113 Table I.3)"},
	"g729":    {11, 19.0, "G.729A + VAD (G.113 Table I.3)"},
	"g723":    {15, 16.1, "G.723.1 6.3 kbit/s + VAD (G.113 Table I.3)"},
	"gsm":     {20, 10, "GSM-FR (G.113 Table I.1)"},
	"amr":     {5, 10, "AMR 12.2 kbit/s (G.113 Table I.1)"},
	"ilbc":    {11, 32, "iLBC (G.113 Appendix I, 15.2 kbit/s)"},
	"g722":    {0, 25.1, "not in the narrowband table: taken as G.711 with PLC"},
	"opus":    {0, 25.1, "not in the narrowband table: taken as G.711 with PLC"},
	"default": {0, 25.1, "codec unknown: taken as G.711 with PLC"},
}

// Quality is a stream's call-quality estimate with every input stated.
type Quality struct {
	R   float64 `json:"r_factor"`
	MOS float64 `json:"mos"`
	// Inputs of the computation.
	Codec     string  `json:"codec"`
	Ie        float64 `json:"ie"`
	Bpl       float64 `json:"bpl"`
	LossPct   float64 `json:"ppl_percent"`
	BurstR    float64 `json:"burst_r"`
	DelayMs   float64 `json:"delay_ms"`
	Idd       float64 `json:"idd"`
	IeEff     float64 `json:"ie_eff"`
	ImpSource string  `json:"impairment_source"`
	// Formula is the computation with the numbers filled in.
	Formula string `json:"formula"`
}

// emodelInputs are the measured inputs of the E-model.
type emodelInputs struct {
	codec        string
	lossPct      float64 // Ppl, percent
	meanBurst    float64 // mean length of loss bursts, packets (0: none)
	maxJitterMs  float64
	packetMs     float64 // packet interval
	extraDelayMs float64 // known one-way delay besides the estimate
}

// emodel computes R and MOS from in.
func emodel(in emodelInputs) Quality {
	ci, ok := codecImpairments[strings.ToLower(in.codec)]
	if !ok {
		ci = codecImpairments["default"]
	}
	q := Quality{Codec: in.codec, Ie: ci.Ie, Bpl: ci.Bpl, LossPct: in.lossPct, ImpSource: ci.Source, BurstR: 1}
	if p := in.lossPct / 100; p > 0 && p < 1 && in.meanBurst > 0 {
		q.BurstR = max(1, in.meanBurst*(1-p))
	}
	q.IeEff = ci.Ie + (95-ci.Ie)*in.lossPct/(in.lossPct/q.BurstR+ci.Bpl)
	q.DelayMs = in.packetMs + 2*in.maxJitterMs + 10 + in.extraDelayMs
	q.Idd = idd(q.DelayMs)
	q.R = emodelDefaultR - q.Idd - q.IeEff
	q.MOS = mosFromR(q.R)
	q.R, q.MOS = math.Round(q.R*10)/10, math.Round(q.MOS*100)/100
	q.Formula = fmt.Sprintf("R = 93.2 - Idd(Ta=%.0f ms)=%.1f - Ie,eff=%.1f [Ie %.0f + (95-%.0f)*%.2f/(%.2f/%.2f+%.1f)] = %.1f; MOS = %.2f",
		q.DelayMs, q.Idd, q.IeEff, q.Ie, q.Ie, in.lossPct, in.lossPct, q.BurstR, q.Bpl, q.R, q.MOS)
	return q
}

// idd is G.107's delay impairment for a one-way delay of ta ms.
func idd(ta float64) float64 {
	if ta <= 100 {
		return 0
	}
	x := math.Log2(ta / 100)
	return 25 * (math.Pow(1+math.Pow(x, 6), 1.0/6) - 3*math.Pow(1+math.Pow(x/3, 6), 1.0/6) + 2)
}

// mosFromR maps R to the estimated mean opinion score (G.107 Annex B).
func mosFromR(r float64) float64 {
	switch {
	case r <= 0:
		return 1
	case r >= 100:
		return 4.5
	}
	return 1 + 0.035*r + r*(r-60)*(100-r)*7e-6
}
