package country

// stateDeptTags maps the US State Department's Country-Tag values to ISO
// codes. The tags are mostly FIPS 10-4, which reuses many ISO codes for
// other countries (AU is Austria, NI Nigeria, CH China), so a tag must
// never be read as ISO first. Every tag of the 2025 feed is here, and the
// FIPS code of every other country the Department might add. Where the
// feed departs from FIPS (SR Switzerland, GW Guinea-Bissau) both spellings
// are kept. A1, A2 and A3 are the Department's own.
var stateDeptTags = map[string]string{
	"AA": "AW", "AC": "AG", "AE": "AE", "AF": "AF", "AG": "DZ", "AJ": "AZ", "AL": "AL", "AM": "AM",
	"AN": "AD", "AO": "AO", "AQ": "AS", "AR": "AR", "AS": "AU", "AU": "AT", "AV": "AI", "AY": "AQ",
	"BA": "BH", "BB": "BB", "BC": "BW", "BD": "BM", "BE": "BE", "BF": "BS", "BG": "BD", "BH": "BZ",
	"BK": "BA", "BL": "BO", "BM": "MM", "BN": "BJ", "BO": "BY", "BP": "SB", "BR": "BR", "BT": "BT",
	"BU": "BG", "BV": "BV", "BX": "BN", "BY": "BI", "CA": "CA", "CB": "KH", "CD": "TD", "CE": "LK",
	"CF": "CG", "CG": "CD", "CH": "CN", "CI": "CL", "CJ": "KY", "CK": "CC", "CM": "CM", "CN": "KM",
	"CO": "CO", "CQ": "MP", "CS": "CR", "CT": "CF", "CU": "CU", "CV": "CV", "CW": "CK", "CY": "CY", "DA": "DK",
	"DJ": "DJ", "DO": "DM", "DR": "DO", "EC": "EC", "EG": "EG", "EI": "IE", "EK": "GQ", "EN": "EE",
	"ER": "ER", "ES": "SV", "ET": "ET", "EZ": "CZ", "FG": "GF", "FI": "FI", "FJ": "FJ", "FK": "FK",
	"FM": "FM", "FO": "FO", "FP": "PF", "FR": "FR", "FS": "TF", "GA": "GM", "GB": "GA", "GG": "GE",
	"GH": "GH", "GI": "GI", "GJ": "GD", "GK": "GG", "GL": "GL", "GM": "DE", "GP": "GP", "GQ": "GU",
	"GR": "GR", "GT": "GT", "GV": "GN", "GW": "GW", "GY": "GY", "GZ": "PS", "HA": "HT", "HK": "HK", "HM": "HM",
	"HO": "HN", "HR": "HR", "HU": "HU", "IC": "IS", "ID": "ID", "IM": "IM", "IN": "IN", "IO": "IO",
	"IR": "IR", "IS": "IL", "IT": "IT", "IV": "CI", "IZ": "IQ", "JA": "JP", "JE": "JE", "JM": "JM", "JN": "SJ",
	"JO": "JO", "KE": "KE", "KG": "KG", "KN": "KP", "KR": "KI", "KS": "KR", "KT": "CX", "KU": "KW",
	"KV": "XK", "KZ": "KZ", "LA": "LA", "LE": "LB", "LG": "LV", "LH": "LT", "LI": "LR", "LO": "SK",
	"LS": "LI", "LT": "LS", "LU": "LU", "LY": "LY", "MA": "MG", "MB": "MQ", "MC": "MO", "MD": "MD",
	"MF": "YT", "MG": "MN", "MH": "MS", "MI": "MW", "MJ": "ME", "MK": "MK", "ML": "ML", "MN": "MC",
	"MO": "MA", "MP": "MU", "MR": "MR", "MT": "MT", "MU": "OM", "MV": "MV", "MX": "MX", "MY": "MY",
	"MZ": "MZ", "NC": "NC", "NE": "NU", "NF": "NF", "NG": "NE", "NH": "VU", "NI": "NG", "NL": "NL",
	"NN": "SX", "NO": "NO", "NP": "NP", "NR": "NR", "NS": "SR", "NU": "NI", "NZ": "NZ", "OD": "SS",
	"PA": "PY", "PC": "PN", "PE": "PE", "PK": "PK", "PL": "PL", "PM": "PA", "PO": "PT", "PP": "PG",
	"PS": "PW", "PU": "GW", "QA": "QA", "RE": "RE", "RI": "RS", "RM": "MH", "RN": "MF",
	"RO": "RO", "RP": "PH", "RQ": "PR", "RS": "RU", "RW": "RW", "SA": "SA", "SB": "PM", "SC": "KN",
	"SE": "SC", "SF": "ZA", "SG": "SN", "SH": "SH", "SI": "SI", "SL": "SL", "SM": "SM", "SN": "SG",
	"SO": "SO", "SP": "ES", "SR": "CH", "ST": "LC", "SU": "SD", "SV": "SJ", "SW": "SE", "SX": "GS",
	"SY": "SY", "SZ": "CH", "TB": "BL", "TD": "TT", "TH": "TH", "TI": "TJ", "TK": "TC", "TL": "TK",
	"TN": "TO", "TO": "TG", "TP": "ST", "TS": "TN", "TT": "TL", "TU": "TR", "TV": "TV", "TW": "TW",
	"TX": "TM", "TZ": "TZ", "UC": "CW", "UG": "UG", "UK": "GB", "UP": "UA", "US": "US", "UV": "BF",
	"UY": "UY", "UZ": "UZ", "VC": "VC", "VE": "VE", "VI": "VG", "VM": "VN", "VQ": "VI", "VT": "VA",
	"WA": "NA", "WE": "PS", "WF": "WF", "WI": "EH", "WS": "WS", "WZ": "SZ", "YM": "YE", "ZA": "ZM",
	"ZI": "ZW",
	// The Department's own tags. A1 is shared by three advisories (Bonaire,
	// Saba, Sint Eustatius), all one ISO code.
	"A1": "BQ", "A2": "GF", "A3": "GP",
}

// stateDeptGroups are the tags whose one advisory covers several ISO
// countries. A3, "French West Indies", is the Department's advisory for
// Guadeloupe, Martinique, Saint Barthélemy and Saint Martin (the French
// Caribbean); FromStateDept gives the first, Guadeloupe.
var stateDeptGroups = map[string][]string{
	"A3": {"GP", "MQ", "BL", "MF"},
}

// FromStateDept maps a State Department Country-Tag to a country. name is
// the country name from the item's title ("" if unknown); it settles the
// tags the Department has started to write in ISO style:
//
//   - a known tag whose name agrees (or does not resolve) gives the table's
//     country: AU with "Austria" is Austria;
//   - a known tag whose name is the tag read as ISO gives that country: NG
//     with "Nigeria" is Nigeria, because the feed has switched that tag;
//   - otherwise a known tag wins over the name (the tag is the feed's
//     structured field, a title may name several places);
//   - an unknown tag gives the ISO country of that code only when the name
//     agrees: KH with "Cambodia" is Cambodia, KH with "Chile" is nothing.
func FromStateDept(tag, name string) (Country, bool) {
	named, nameOK := Country{}, false
	if name != "" {
		named, nameOK = Lookup(name)
	}
	if code, known := stateDeptTags[tag]; known {
		if nameOK && named.Code != code && named.Code == tag {
			return named, true
		}
		return byCode[code], true
	}
	if nameOK && named.Code == tag {
		return named, true
	}
	return Country{}, false
}

// StateDeptGroup returns every country one Country-Tag's advisory covers
// when it covers more than one (A3, the French West Indies), else nil.
func StateDeptGroup(tag string) []Country {
	codes := stateDeptGroups[tag]
	if len(codes) == 0 {
		return nil
	}
	out := make([]Country, len(codes))
	for i, code := range codes {
		out[i] = byCode[code]
	}
	return out
}
