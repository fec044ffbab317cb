//! The built-in airport table.
//!
//! Every airport the BOG archive names as the other end of a flight (with the
//! exact `name`, `icao` and `timeZone` strings the provider sends, quirks
//! included: "Rionegro" for Medellín's MDE, "Santa Clara" for San Salvador's
//! SAL), plus BOG itself, LAX and DXB. Coordinates and countries come from the
//! `airportsdata` package (MIT); they drive great-circle positions and which
//! airlines may fly a route.
//!
//! `size` scales traffic: a queried airport gets BOG's calibrated daily volume
//! times its size. BOG is 1.0 by definition; the other factors are rough
//! estimates of each airport's movements relative to El Dorado (MDE 0.45,
//! small regionals 0.003–0.05, big hubs above 1).

use chrono_tz::Tz;
use flightlabs::AirportRef;

#[derive(Debug, Clone, PartialEq)]
pub struct Airport {
    pub iata: &'static str,
    pub icao: &'static str,
    /// The name as the provider spells it in `movement.airport.name`.
    pub name: &'static str,
    /// IANA time zone.
    pub tz: &'static str,
    pub lat: f64,
    pub lon: f64,
    /// ISO 3166 alpha-2.
    pub country: &'static str,
    /// Traffic relative to BOG (= 1.0).
    pub size: f64,
}

#[allow(clippy::too_many_arguments)]
const fn ap(
    iata: &'static str,
    icao: &'static str,
    name: &'static str,
    tz: &'static str,
    lat: f64,
    lon: f64,
    country: &'static str,
    size: f64,
) -> Airport {
    Airport {
        iata,
        icao,
        name,
        tz,
        lat,
        lon,
        country,
        size,
    }
}

/// All airports the simulator knows; a code not in here is "invalid_airport".
#[rustfmt::skip]
pub static AIRPORTS: &[Airport] = &[
    ap("BOG", "SKBO", "Bogotá", "America/Bogota", 4.7016, -74.1469, "CO", 1.0),
    ap("MDE", "SKRG", "Rionegro", "America/Bogota", 6.1645, -75.4231, "CO", 0.45),
    ap("CLO", "SKCL", "Santiago de Cali", "America/Bogota", 3.5432, -76.3816, "CO", 0.3),
    ap("CTG", "SKCG", "Cartagena de Indias", "America/Bogota", 10.4424, -75.5130, "CO", 0.3),
    ap("SMR", "SKSM", "Santa Marta", "America/Bogota", 11.1196, -74.2306, "CO", 0.18),
    ap("BAQ", "SKBQ", "Barranquilla", "America/Bogota", 10.8896, -74.7808, "CO", 0.2),
    ap("PEI", "SKPE", "Pereira", "America/Bogota", 4.8127, -75.7395, "CO", 0.14),
    ap("BGA", "SKBG", "Bucaramanga", "America/Bogota", 7.1265, -73.1848, "CO", 0.15),
    ap("MIA", "KMIA", "Miami", "America/New_York", 25.7954, -80.2901, "US", 1.3),
    ap("ADZ", "SKSP", "San Andrés", "America/Bogota", 12.5836, -81.7112, "CO", 0.12),
    ap("CUC", "SKCC", "Cúcuta", "America/Bogota", 7.9276, -72.5115, "CO", 0.12),
    ap("PTY", "MPTO", "Tocumen", "America/Panama", 9.0714, -79.3835, "PA", 0.6),
    ap("MAD", "LEMD", "Madrid", "Europe/Madrid", 40.4936, -3.5668, "ES", 1.5),
    ap("MTR", "SKMR", "Montería", "America/Bogota", 8.8237, -75.8258, "CO", 0.08),
    ap("EYP", "SKYP", "El Yopal", "America/Bogota", 5.3191, -72.3840, "CO", 0.06),
    ap("LIM", "SPJC", "Lima", "America/Lima", -12.0219, -77.1143, "PE", 0.8),
    ap("NVA", "SKNV", "Neiva", "America/Bogota", 2.9501, -75.2940, "CO", 0.05),
    ap("EOH", "SKMD", "Medellín", "America/Bogota", 6.2206, -75.5906, "CO", 0.08),
    ap("AXM", "SKAR", "Armenia", "America/Bogota", 4.4528, -75.7664, "CO", 0.05),
    ap("UIO", "SEQM", "Quito", "America/Guayaquil", -0.1292, -78.3575, "EC", 0.3),
    ap("MEX", "MMMX", "Mexico City", "America/Mexico_City", 19.4363, -99.0721, "MX", 1.5),
    ap("JFK", "KJFK", "New York", "America/New_York", 40.6399, -73.7787, "US", 1.6),
    ap("PSO", "SKPS", "Pasto", "America/Bogota", 1.3962, -77.2915, "CO", 0.04),
    ap("RCH", "SKRH", "Rio de la Hacha", "America/Bogota", 11.5262, -72.9260, "CO", 0.03),
    ap("SJO", "MROC", "San José", "America/Costa_Rica", 9.9939, -84.2088, "CR", 0.3),
    ap("VUP", "SKVP", "Valledupar", "America/Bogota", 10.4350, -73.2495, "CO", 0.03),
    ap("GRU", "SBGR", "São Paulo", "America/Sao_Paulo", -23.4356, -46.4731, "BR", 1.4),
    ap("GYE", "SEGU", "Guayaquil", "America/Guayaquil", -2.1574, -79.8836, "EC", 0.2),
    ap("SCL", "SCEL", "Santiago", "America/Santiago", -33.3930, -70.7858, "CL", 0.8),
    ap("SAL", "MSLP", "Santa Clara", "America/El_Salvador", 13.4409, -89.0557, "SV", 0.15),
    ap("PUJ", "MDPC", "Punta Cana", "America/Santo_Domingo", 18.5674, -68.3634, "DO", 0.3),
    ap("FLA", "SKFL", "Florencia", "America/Bogota", 1.5892, -75.5644, "CO", 0.03),
    ap("CUN", "MMUN", "Cancún", "America/Cancun", 21.0365, -86.8771, "MX", 1.0),
    ap("MCO", "KMCO", "Orlando", "America/New_York", 28.4294, -81.3090, "US", 1.5),
    ap("MZL", "SKMZ", "Manizales", "America/Bogota", 5.0296, -75.4647, "CO", 0.02),
    ap("LET", "SKLT", "Leticia", "America/Bogota", -4.1936, -69.9432, "CO", 0.03),
    ap("PPN", "SKPP", "Popayán", "America/Bogota", 2.4544, -76.6093, "CO", 0.02),
    ap("EZE", "SAEZ", "Buenos Aires", "America/Argentina/Buenos_Aires", -34.8222, -58.5358, "AR", 0.5),
    ap("CDG", "LFPG", "Paris", "Europe/Paris", 49.0128, 2.5500, "FR", 2.0),
    ap("EJA", "SKEJ", "Barrancabermeja", "America/Bogota", 7.0243, -73.8068, "CO", 0.02),
    ap("SDQ", "MDSD", "Santo Domingo City", "America/Santo_Domingo", 18.4297, -69.6689, "DO", 0.3),
    ap("AUA", "TNCA", "Oranjestad", "America/Aruba", 12.5014, -70.0152, "AW", 0.1),
    ap("AUC", "SKUC", "Arauca", "America/Bogota", 7.0689, -70.7369, "CO", 0.02),
    ap("CCS", "SVMI", "Caracas", "America/Caracas", 10.6031, -66.9906, "VE", 0.15),
    ap("GUA", "MGGT", "Guatemala City", "America/Guatemala", 14.5833, -90.5275, "GT", 0.15),
    ap("UIB", "SKUI", "Quibdó", "America/Bogota", 5.6908, -76.6412, "CO", 0.02),
    ap("SJU", "TJSJ", "San Juan", "America/Puerto_Rico", 18.4394, -66.0021, "US", 0.5),
    ap("FLL", "KFLL", "Fort Lauderdale", "America/New_York", 26.0717, -80.1497, "US", 1.0),
    ap("CUR", "TNCC", "Willemstad", "America/Curacao", 12.1889, -68.9598, "CW", 0.08),
    ap("PTX", "SKPI", "Pitalito", "America/Bogota", 1.8578, -76.0857, "CO", 0.015),
    ap("PUU", "SKAS", "Puerto Asís", "America/Bogota", 0.5052, -76.5008, "CO", 0.02),
    ap("BCN", "LEBL", "Barcelona", "Europe/Madrid", 41.2971, 2.0785, "ES", 1.3),
    ap("ATL", "KATL", "Atlanta", "America/New_York", 33.6367, -84.4279, "US", 3.0),
    ap("IBE", "SKIB", "Ibagué", "America/Bogota", 4.4216, -75.1333, "CO", 0.015),
    ap("IAD", "KIAD", "Washington", "America/New_York", 38.9475, -77.4599, "US", 0.7),
    ap("GIG", "SBGL", "Rio de Janeiro", "America/Sao_Paulo", -22.8100, -43.2506, "BR", 0.5),
    ap("SJE", "SKSJ", "San José del Guaviare", "America/Bogota", 2.5797, -72.6394, "CO", 0.015),
    ap("VVC", "SKVV", "Villavicencio", "America/Bogota", 4.1679, -73.6138, "CO", 0.03),
    ap("DFW", "KDFW", "Dallas-Fort Worth", "America/Chicago", 32.8972, -97.0377, "US", 2.5),
    ap("AEP", "SABE", "Buenos Aires", "America/Argentina/Buenos_Aires", -34.5592, -58.4156, "AR", 0.45),
    ap("LPB", "SLLP", "La Paz / El Alto", "America/La_Paz", -16.5133, -68.1923, "BO", 0.1),
    ap("IPI", "SKIP", "Ipiales", "America/Bogota", 0.8619, -77.6718, "CO", 0.01),
    ap("FRA", "EDDF", "Frankfurt-am-Main", "Europe/Berlin", 50.0264, 8.5431, "DE", 1.8),
    ap("PDA", "SKPD", "Puerto Inírida", "America/Bogota", 3.8535, -67.9062, "CO", 0.01),
    ap("APO", "SKLC", "Carepa", "America/Bogota", 7.8120, -76.7164, "CO", 0.01),
    ap("HAV", "MUHA", "Havana", "America/Havana", 22.9892, -82.4091, "CU", 0.15),
    ap("LHR", "EGLL", "London", "Europe/London", 51.4706, -0.4619, "GB", 2.4),
    ap("YYZ", "CYYZ", "Toronto", "America/Toronto", 43.6772, -79.6306, "CA", 1.5),
    ap("TCO", "SKCO", "Tumaco", "America/Bogota", 1.8144, -78.7492, "CO", 0.01),
    ap("PCR", "SKPC", "Puerto Carreño", "America/Bogota", 6.1847, -67.4932, "CO", 0.01),
    ap("EWR", "KEWR", "Newark", "America/New_York", 40.6925, -74.1687, "US", 1.4),
    ap("IAH", "KIAH", "Houston", "America/Chicago", 29.9844, -95.3414, "US", 1.5),
    ap("AMS", "EHAM", "Amsterdam", "Europe/Amsterdam", 52.3086, 4.7639, "NL", 1.6),
    ap("IST", "LTFM", "Istanbul", "Europe/Istanbul", 41.2753, 28.7520, "TR", 2.2),
    ap("VVI", "SLVR", "Santa Cruz de la Sierra", "America/La_Paz", -17.6448, -63.1354, "BO", 0.15),
    ap("BLB", "MPPA", "Panamá City", "America/Panama", 8.9148, -79.5996, "PA", 0.05),
    ap("MVP", "SKMU", "Mitú", "America/Bogota", 1.2537, -70.2339, "CO", 0.005),
    ap("BOS", "KBOS", "Boston", "America/New_York", 42.3629, -71.0064, "US", 1.2),
    ap("CUZ", "SPZO", "Cusco", "America/Lima", -13.5357, -71.9388, "PE", 0.15),
    ap("MVD", "SUMU", "Montevideo", "America/Montevideo", -34.8384, -56.0308, "UY", 0.15),
    ap("CZU", "SKCZ", "Corozal", "America/Bogota", 9.3327, -75.2856, "CO", 0.005),
    ap("VLN", "SVVA", "Valencia", "America/Caracas", 10.1497, -67.9284, "VE", 0.05),
    ap("YUL", "CYUL", "Montreal", "America/Toronto", 45.4706, -73.7408, "CA", 0.8),
    ap("MAO", "SBEG", "Manaus", "America/Manaus", -3.0386, -60.0497, "BR", 0.1),
    ap("TME", "SKTM", "Tame", "America/Bogota", 6.4511, -71.7603, "CO", 0.005),
    ap("ASU", "SGAS", "Asunción", "America/Asuncion", -25.2400, -57.5200, "PY", 0.1),
    ap("XPL", "MHSC", "Comayagua", "America/Tegucigalpa", 14.3823, -87.6212, "HN", 0.05),
    ap("BUN", "SKBU", "Buenaventura", "America/Bogota", 3.8196, -76.9898, "CO", 0.003),
    ap("RVE", "SKSA", "Saravena", "America/Bogota", 6.9503, -71.8562, "CO", 0.003),
    ap("ORD", "KORD", "Chicago", "America/Chicago", 41.9769, -87.9082, "US", 2.6),
    ap("BSB", "SBBR", "Brasília", "America/Sao_Paulo", -15.8692, -47.9208, "BR", 0.5),
    ap("TQO", "MMTL", "Tulum", "America/Cancun", 20.1667, -87.6667, "MX", 0.05),
    ap("VCP", "SBKP", "Campinas", "America/Sao_Paulo", -23.0074, -47.1345, "BR", 0.4),
    ap("GDL", "MMGL", "Guadalajara", "America/Mexico_City", 20.5218, -103.3110, "MX", 0.5),
    ap("SVI", "SKSV", "San Vicente Del Caguán", "America/Bogota", 2.1522, -74.7663, "CO", 0.003),
    ap("NLU", "MMSM", "Reyes Acozac", "America/Mexico_City", 19.7553, -99.0164, "MX", 0.2),
    ap("AEX", "KAEX", "Alexandria", "America/Chicago", 31.3274, -92.5486, "US", 0.02),
    ap("RIX", "EVRA", "Riga", "Europe/Riga", 56.9236, 23.9711, "LV", 0.2),
    ap("MAR", "SVMC", "Maracaibo", "America/Caracas", 10.5582, -71.7279, "VE", 0.05),
    ap("GEO", "SYCJ", "Georgetown", "America/Guyana", 6.4985, -58.2541, "GY", 0.05),
    ap("POS", "TTPP", "Port of Spain", "America/Port_of_Spain", 10.5954, -61.3372, "TT", 0.1),
    ap("ZRH", "LSZH", "Zurich", "Europe/Zurich", 47.4647, 8.5492, "CH", 0.9),
    ap("IQT", "SPQT", "Iquitos", "America/Lima", -3.7847, -73.3088, "PE", 0.05),
    ap("ANF", "SCFA", "Antofagasta", "America/Santiago", -23.4445, -70.4451, "CL", 0.05),
    ap("PVD", "KPVD", "Providence", "America/New_York", 41.7223, -71.4277, "US", 0.1),
    ap("AGT", "SGES", "Ciudad del Este", "America/Asuncion", -25.4600, -54.8400, "PY", 0.03),
    ap("VIX", "SBVT", "Vitória", "America/Sao_Paulo", -20.2581, -40.2864, "BR", 0.1),
    ap("HRL", "KHRL", "Harlingen", "America/Chicago", 26.2266, -97.6553, "US", 0.03),
    ap("LAX", "KLAX", "Los Angeles", "America/Los_Angeles", 33.9425, -118.4080, "US", 2.5),
    ap("DXB", "OMDB", "Dubai", "Asia/Dubai", 25.2528, 55.3644, "AE", 2.6),
];

/// Case-insensitive lookup by IATA code.
pub fn by_iata(code: &str) -> Option<&'static Airport> {
    let code = code.trim();
    AIRPORTS.iter().find(|a| a.iata.eq_ignore_ascii_case(code))
}

impl Airport {
    /// The parsed time zone. The table is checked by a test, so the UTC
    /// fallback never happens in practice; it only keeps this infallible.
    pub fn time_zone(&self) -> Tz {
        self.tz.parse().unwrap_or(Tz::UTC)
    }

    /// How the provider describes this airport as the other end of a flight.
    pub fn airport_ref(&self) -> AirportRef {
        AirportRef {
            icao: Some(self.icao.to_string()),
            iata: Some(self.iata.to_string()),
            name: self.name.to_string(),
            time_zone: Some(self.tz.to_string()),
        }
    }

    pub fn distance_km(&self, other: &Airport) -> f64 {
        distance_km(self.lat, self.lon, other.lat, other.lon)
    }
}

/// Mean Earth radius used for all great-circle arithmetic.
pub const EARTH_RADIUS_KM: f64 = 6371.0;

/// Great-circle distance (haversine).
pub fn distance_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * a.sqrt().min(1.0).asin()
}

/// Initial bearing from point 1 towards point 2, degrees in [0, 360).
pub fn bearing_deg(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dl = (lon2 - lon1).to_radians();
    let y = dl.sin() * p2.cos();
    let x = p1.cos() * p2.sin() - p1.sin() * p2.cos() * dl.cos();
    (y.atan2(x).to_degrees() + 360.0) % 360.0
}

/// The point a fraction `f` (0..=1) of the way along the great circle from
/// point 1 to point 2 (spherical linear interpolation).
pub fn intermediate_point(lat1: f64, lon1: f64, lat2: f64, lon2: f64, f: f64) -> (f64, f64) {
    let f = f.clamp(0.0, 1.0);
    let d = distance_km(lat1, lon1, lat2, lon2) / EARTH_RADIUS_KM;
    if d < 1e-9 {
        return (lat1, lon1);
    }
    let (p1, l1, p2, l2) = (
        lat1.to_radians(),
        lon1.to_radians(),
        lat2.to_radians(),
        lon2.to_radians(),
    );
    let a = ((1.0 - f) * d).sin() / d.sin();
    let b = (f * d).sin() / d.sin();
    let x = a * p1.cos() * l1.cos() + b * p2.cos() * l2.cos();
    let y = a * p1.cos() * l1.sin() + b * p2.cos() * l2.sin();
    let z = a * p1.sin() + b * p2.sin();
    let lat = z.atan2((x * x + y * y).sqrt());
    let lon = y.atan2(x);
    (lat.to_degrees(), lon.to_degrees())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn table_is_consistent() {
        assert!(AIRPORTS.len() >= 40);
        let mut seen = HashSet::new();
        for a in AIRPORTS {
            assert!(seen.insert(a.iata), "duplicate {}", a.iata);
            assert_eq!(a.iata.len(), 3);
            assert_eq!(a.icao.len(), 4);
            assert!(a.tz.parse::<Tz>().is_ok(), "bad tz {}", a.tz);
            assert!(a.lat.abs() <= 90.0 && a.lon.abs() <= 180.0);
            assert!(a.size > 0.0);
            assert_eq!(a.country.len(), 2);
        }
        for code in [
            "BOG", "MDE", "CLO", "CTG", "BAQ", "SMR", "BGA", "PEI", "CUC", "ADZ", "MIA", "JFK",
            "MAD", "MEX", "PTY", "LIM", "UIO", "GRU", "SCL", "EZE", "LHR", "CDG", "ATL", "LAX",
        ] {
            assert!(by_iata(code).is_some(), "{code}");
        }
        assert_eq!(by_iata("BOG").map(|a| a.size), Some(1.0));
        assert!(by_iata("ATL").is_some_and(|a| a.size > 1.0));
    }

    #[test]
    fn lookup_is_case_insensitive_and_strict() {
        assert_eq!(by_iata(" bog ").map(|a| a.icao), Some("SKBO"));
        assert!(by_iata("XXX").is_none());
        assert!(by_iata("").is_none());
    }

    #[test]
    fn geometry() {
        let bog = by_iata("BOG").unwrap();
        let mde = by_iata("MDE").unwrap();
        let mad = by_iata("MAD").unwrap();
        let d = bog.distance_km(mde);
        assert!((200.0..250.0).contains(&d), "{d}");
        let d = bog.distance_km(mad);
        assert!((7900.0..8100.0).contains(&d), "{d}");
        // Madrid lies north-east of Bogotá.
        let b = bearing_deg(bog.lat, bog.lon, mad.lat, mad.lon);
        assert!((30.0..70.0).contains(&b), "{b}");
        let (lat, lon) = intermediate_point(bog.lat, bog.lon, mad.lat, mad.lon, 0.5);
        let half = distance_km(bog.lat, bog.lon, lat, lon);
        assert!((half - bog.distance_km(mad) / 2.0).abs() < 1.0);
        assert_eq!(intermediate_point(1.0, 2.0, 1.0, 2.0, 0.3), (1.0, 2.0));
    }

    #[test]
    fn airport_ref_has_all_codes() {
        let r = by_iata("CLO").unwrap().airport_ref();
        assert_eq!(r.name, "Santiago de Cali");
        assert_eq!(r.icao.as_deref(), Some("SKCL"));
        assert_eq!(r.time_zone.as_deref(), Some("America/Bogota"));
    }
}
