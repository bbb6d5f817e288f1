import Foundation
import GRDB
import PeaceHubCore

/// The demo data `peacehub registry seed` loads into an empty registry: the four missions, five
/// contingents and invented personnel with qualifications, deployments and equipment. Deterministic:
/// the same rows every time (only audit timestamps differ).
///
/// Readiness is meant to be interesting: the next Kazakh rotation to UNIFIL has people with expired
/// training or medical clearance and one without an English test; a Kyrgyz observer candidate for
/// UNMOGIP lacks the observer course; an Uzbek staff officer lacks core pre-deployment training.
public enum SeedData {
    static func date(_ text: String) -> CalendarDate { CalendarDate(text)! }

    static let missions: [(Mission, [(MissionLifecycle, String)])] = [
        (
            Mission(code: "UNIFIL", name: "United Nations Interim Force in Lebanon", establishedOn: date("1978-03-19")),
            // Res. 2790 (2025): final mandate to 31 Dec 2026, drawdown within a year, then liquidation.
            [(.active, "1978-03-19"), (.drawdown, "2027-01-01"), (.liquidation, "2028-01-01")]
        ),
        (
            Mission(
                code: "UNFICYP", name: "United Nations Peacekeeping Force in Cyprus",
                establishedOn: date("1964-03-04")),
            [(.active, "1964-03-04")]
        ),
        (
            Mission(
                code: "UNMOGIP", name: "United Nations Military Observer Group in India and Pakistan",
                establishedOn: date("1949-01-24")),
            [(.active, "1949-01-24")]
        ),
        (
            Mission(
                code: "MINURSO", name: "United Nations Mission for the Referendum in Western Sahara",
                establishedOn: date("1991-04-29")),
            [(.active, "1991-04-29")]
        ),
    ]

    static let contingents: [Contingent] = [
        Contingent(
            code: "IND", name: "India", pcrsLevel: .level3, pcrsEvidence: "SUR INDBATT-UNIFIL (invented)",
            pcrsEvidenceDate: date("2024-02-12")),
        Contingent(
            code: "KAZ", name: "Kazakhstan", pcrsLevel: .level2, pcrsEvidence: "AAV report KAZ-2018-04 (invented)",
            pcrsEvidenceDate: date("2018-04-20")),
        Contingent(
            code: "KGZ", name: "Kyrgyzstan", pcrsLevel: .level1, pcrsEvidence: "PCRS pledge (invented)",
            pcrsEvidenceDate: date("2022-09-01")),
        Contingent(
            code: "TJK", name: "Tajikistan", pcrsLevel: .level1, pcrsEvidence: "PCRS pledge (invented)",
            pcrsEvidenceDate: date("2023-03-15")),
        Contingent(code: "UZB", name: "Uzbekistan", pcrsLevel: .none),
    ]

    /// Qualification sets by role; the variants leave one gap (expired training or medical, no English, no STM).
    enum Profile: String {
        case troop, troopCPTMExpired, troopMedicalExpired, troopNoEnglish, observer, observerNoSTM, staff
        case staffNoCPTM, police
    }

    struct Seeded {
        var serviceNumber: String
        var latin: String
        var cyrillic: String?
        var sex: Sex
        var contingent: String
        var rank: String
        var rankCode: String?
        var category: PersonCategory
        var born: String
        var years: Int?
        var languages: String
        var profile: Profile
    }

    static let people: [Seeded] = [
        // Kazakh company with INDBATT, UNIFIL rotation 15 (in mission).
        .init(
            serviceNumber: "KAZ-100101", latin: "Daniyar Serikuly Akhmetov", cyrillic: "Данияр Серікұлы Ахметов",
            sex: .male, contingent: "KAZ", rank: "Major", rankCode: "OF-3", category: .troop, born: "1986-02-11",
            years: 16, languages: "kk:C2;ru:C2;en:B2", profile: .troop),
        .init(
            serviceNumber: "KAZ-100102", latin: "Aigerim Nurlanqyzy Bekova", cyrillic: "Айгерім Нұрланқызы Бекова",
            sex: .female, contingent: "KAZ", rank: "Captain", rankCode: "OF-2", category: .troop, born: "1992-04-18",
            years: 9, languages: "kk:C2;ru:C2;en:B2", profile: .troop),
        .init(
            serviceNumber: "KAZ-100103", latin: "Yerlan Bolatuly Zhaksylykov", cyrillic: "Ерлан Болатұлы Жақсылықов",
            sex: .male, contingent: "KAZ", rank: "Senior Lieutenant", rankCode: "OF-1", category: .troop,
            born: "1996-09-02", years: 5, languages: "kk:C2;ru:C2;en:B1", profile: .troop),
        .init(
            serviceNumber: "KAZ-100104", latin: "Nurzhan Kairatuly Omarov", cyrillic: "Нұржан Қайратұлы Омаров",
            sex: .male, contingent: "KAZ", rank: "Sergeant", rankCode: "OR-5", category: .troop, born: "1995-12-30",
            years: nil, languages: "kk:C2;ru:C1;en:B1", profile: .troop),
        .init(
            serviceNumber: "KAZ-100105", latin: "Madina Askarovna Tulegenova", cyrillic: "Мадина Аскаровна Тулегенова",
            sex: .female, contingent: "KAZ", rank: "Sergeant", rankCode: "OR-5", category: .troop, born: "1997-07-07",
            years: nil, languages: "kk:C2;ru:C2;en:B1", profile: .troop),
        .init(
            serviceNumber: "KAZ-100106", latin: "Arman Yerzhanuly Sadykov", cyrillic: "Арман Ержанұлы Садықов",
            sex: .male, contingent: "KAZ", rank: "Junior Sergeant", rankCode: "OR-4", category: .troop,
            born: "1999-03-21", years: nil, languages: "kk:C2;ru:C1;en:A2", profile: .troop),
        .init(
            serviceNumber: "KAZ-100107", latin: "Timur Maratuly Iskakov", cyrillic: "Тимур Маратұлы Искаков",
            sex: .male, contingent: "KAZ", rank: "Private First Class", rankCode: "OR-3", category: .troop,
            born: "2001-11-05", years: nil, languages: "kk:C2;ru:C2;en:B1", profile: .troop),
        .init(
            serviceNumber: "KAZ-100108", latin: "Dana Bakhytovna Mukanova", cyrillic: "Дана Бахытовна Муканова",
            sex: .female, contingent: "KAZ", rank: "Lieutenant", rankCode: "OF-1", category: .troop, born: "1998-01-26",
            years: 4, languages: "kk:C2;ru:C2;en:B2", profile: .troop),
        // The next Kazakh rotation (planned, drawdown company).
        .init(
            serviceNumber: "KAZ-100201", latin: "Askar Talgatuly Nurpeisov", cyrillic: "Асқар Талғатұлы Нұрпейісов",
            sex: .male, contingent: "KAZ", rank: "Major", rankCode: "OF-3", category: .troop, born: "1985-05-14",
            years: 17, languages: "kk:C2;ru:C2;en:B2", profile: .troop),
        .init(
            serviceNumber: "KAZ-100202", latin: "Gulnara Serikovna Abenova", cyrillic: "Гүлнара Серікқызы Әбенова",
            sex: .female, contingent: "KAZ", rank: "Captain", rankCode: "OF-2", category: .troop, born: "1991-10-03",
            years: 10, languages: "kk:C2;ru:C2;en:B2", profile: .troopCPTMExpired),
        .init(
            serviceNumber: "KAZ-100203", latin: "Bauyrzhan Nurlanuly Kassymov", cyrillic: "Бауыржан Нұрланұлы Қасымов",
            sex: .male, contingent: "KAZ", rank: "Sergeant", rankCode: "OR-5", category: .troop, born: "1994-08-19",
            years: nil, languages: "kk:C2;ru:C1", profile: .troopNoEnglish),
        .init(
            serviceNumber: "KAZ-100204", latin: "Saule Maratqyzy Zhunusova", cyrillic: "Сәуле Маратқызы Жүнісова",
            sex: .female, contingent: "KAZ", rank: "Sergeant", rankCode: "OR-5", category: .troop, born: "1996-02-29",
            years: nil, languages: "kk:C2;ru:C2;en:B1", profile: .troopMedicalExpired),
        .init(
            serviceNumber: "KAZ-100205", latin: "Yerbol Amanuly Seitkali", cyrillic: "Ербол Аманұлы Сейітқали",
            sex: .male, contingent: "KAZ", rank: "Private First Class", rankCode: "OR-3", category: .troop,
            born: "2002-06-12", years: nil, languages: "kk:C2;ru:C2;en:B1", profile: .troop),
        // Kazakh observers and staff officers.
        .init(
            serviceNumber: "KAZ-200301", latin: "Ruslan Kanatuly Baimukhanov", cyrillic: "Руслан Қанатұлы Баймұханов",
            sex: .male, contingent: "KAZ", rank: "Major", rankCode: "OF-3", category: .militaryObserver,
            born: "1987-03-09", years: 14, languages: "kk:C2;ru:C2;en:C1;fr:A2", profile: .observer),
        .init(
            serviceNumber: "KAZ-200302", latin: "Zhanna Yerlanovna Kaliyeva", cyrillic: "Жанна Ерланқызы Қалиева",
            sex: .female, contingent: "KAZ", rank: "Captain", rankCode: "OF-2", category: .militaryObserver,
            born: "1990-12-01", years: 8, languages: "kk:C2;ru:C2;en:B2", profile: .observer),
        .init(
            serviceNumber: "KAZ-200303", latin: "Olzhas Beibituly Tokayev", cyrillic: "Олжас Бейбітұлы Токаев",
            sex: .male, contingent: "KAZ", rank: "Lieutenant Colonel", rankCode: "OF-4", category: .militaryObserver,
            born: "1983-07-22", years: 19, languages: "kk:C2;ru:C2;en:C1", profile: .observer),
        .init(
            serviceNumber: "KAZ-200304", latin: "Alibek Muratuly Dzhaksybekov", cyrillic: "Әлібек Мұратұлы Жақсыбеков",
            sex: .male, contingent: "KAZ", rank: "Major", rankCode: "OF-3", category: .staffOfficer, born: "1988-11-15",
            years: 13, languages: "kk:C2;ru:C2;en:C1", profile: .staff),
        // Indian battalion (INDBATT), UNIFIL.
        .init(
            serviceNumber: "IND-IC-71234", latin: "Rajesh Kumar Singh", cyrillic: nil, sex: .male, contingent: "IND",
            rank: "Colonel", rankCode: "OF-5", category: .troop, born: "1979-01-30", years: 24,
            languages: "hi:C2;en:C1", profile: .troop),
        .init(
            serviceNumber: "IND-IC-80345", latin: "Priya Sharma", cyrillic: nil, sex: .female, contingent: "IND",
            rank: "Major", rankCode: "OF-3", category: .troop, born: "1989-06-25", years: 11, languages: "hi:C2;en:C1",
            profile: .troop),
        .init(
            serviceNumber: "IND-IC-84512", latin: "Arjun Nair", cyrillic: nil, sex: .male, contingent: "IND",
            rank: "Captain", rankCode: "OF-2", category: .troop, born: "1993-09-14", years: 7,
            languages: "ml:C2;hi:B2;en:C1", profile: .troop),
        .init(
            serviceNumber: "IND-JC-55821", latin: "Harpreet Singh Gill", cyrillic: nil, sex: .male, contingent: "IND",
            rank: "Subedar", rankCode: "OR-8", category: .troop, born: "1982-04-02", years: nil,
            languages: "pa:C2;hi:C2;en:B1", profile: .troop),
        .init(
            serviceNumber: "IND-OR-90417", latin: "Vikram Yadav", cyrillic: nil, sex: .male, contingent: "IND",
            rank: "Havildar", rankCode: "OR-6", category: .troop, born: "1990-12-19", years: nil,
            languages: "hi:C2;en:B1", profile: .troop),
        .init(
            serviceNumber: "IND-OR-91533", latin: "Sunita Rawat", cyrillic: nil, sex: .female, contingent: "IND",
            rank: "Naik", rankCode: "OR-4", category: .troop, born: "1996-03-08", years: nil, languages: "hi:C2;en:B1",
            profile: .troop),
        .init(
            serviceNumber: "IND-IC-77290", latin: "Meera Iyer", cyrillic: nil, sex: .female, contingent: "IND",
            rank: "Lieutenant Colonel", rankCode: "OF-4", category: .staffOfficer, born: "1984-08-11", years: 18,
            languages: "ta:C2;hi:B2;en:C2", profile: .staff),
        // Kyrgyz staff officer in UNIFIL and an observer candidate for UNMOGIP.
        .init(
            serviceNumber: "KGZ-30411", latin: "Bakyt Almazbekovich Toktogulov",
            cyrillic: "Бакыт Алмазбекович Токтогулов", sex: .male, contingent: "KGZ", rank: "Major", rankCode: "OF-3",
            category: .staffOfficer, born: "1986-10-10", years: 15, languages: "ky:C2;ru:C2;en:B2", profile: .staff),
        .init(
            serviceNumber: "KGZ-30412", latin: "Aizada Kubanychbekovna Osmonova",
            cyrillic: "Айзада Кубанычбековна Осмонова", sex: .female, contingent: "KGZ", rank: "Captain",
            rankCode: "OF-2", category: .militaryObserver, born: "1991-05-27", years: 8, languages: "ky:C2;ru:C2;en:B2",
            profile: .observerNoSTM),
        .init(
            serviceNumber: "KGZ-30413", latin: "Nurbek Sagynbaevich Mamytov", cyrillic: "Нурбек Сагынбаевич Мамытов",
            sex: .male, contingent: "KGZ", rank: "Police Major", rankCode: nil, category: .police, born: "1984-01-17",
            years: nil, languages: "ky:C2;ru:C2;en:B1", profile: .police),
        .init(
            serviceNumber: "KGZ-30414", latin: "Elnura Tilekovna Abdyldaeva", cyrillic: "Элнура Тилековна Абдылдаева",
            sex: .female, contingent: "KGZ", rank: "Police Captain", rankCode: nil, category: .police,
            born: "1993-09-09", years: nil, languages: "ky:C2;ru:C2;en:B2", profile: .police),
        // Tajik police officers in UNFICYP.
        .init(
            serviceNumber: "TJK-5521", latin: "Farrukh Rahmonovich Saidov", cyrillic: "Фаррух Раҳмонович Саидов",
            sex: .male, contingent: "TJK", rank: "Police Major", rankCode: nil, category: .police, born: "1983-02-14",
            years: nil, languages: "tg:C2;ru:C2;en:B2", profile: .police),
        .init(
            serviceNumber: "TJK-5522", latin: "Nigina Davlatovna Karimova", cyrillic: "Нигина Давлатовна Каримова",
            sex: .female, contingent: "TJK", rank: "Police Captain", rankCode: nil, category: .police,
            born: "1990-07-03", years: nil, languages: "tg:C2;ru:C2;en:B2", profile: .police),
        .init(
            serviceNumber: "TJK-5523", latin: "Jamshed Nurulloevich Rahimov", cyrillic: "Ҷамшед Нуруллоевич Раҳимов",
            sex: .male, contingent: "TJK", rank: "Police Lieutenant", rankCode: nil, category: .police,
            born: "1994-11-28", years: nil, languages: "tg:C2;ru:C1;en:B1", profile: .police),
        .init(
            serviceNumber: "TJK-5524", latin: "Sitora Umarovna Nazarova", cyrillic: "Ситора Умаровна Назарова",
            sex: .female, contingent: "TJK", rank: "Police Lieutenant", rankCode: nil, category: .police,
            born: "1995-04-16", years: nil, languages: "tg:C2;ru:C2;en:B1", profile: .police),
        // Uzbek officers: registered, one staff officer candidate.
        .init(
            serviceNumber: "UZB-70011", latin: "Sardor Akmalovich Yusupov", cyrillic: "Сардор Акмалович Юсупов",
            sex: .male, contingent: "UZB", rank: "Major", rankCode: "OF-3", category: .staffOfficer, born: "1987-08-08",
            years: 14, languages: "uz:C2;ru:C2;en:B2", profile: .staffNoCPTM),
        .init(
            serviceNumber: "UZB-70012", latin: "Dilnoza Rustamovna Alimova", cyrillic: "Дилноза Рустамовна Алимова",
            sex: .female, contingent: "UZB", rank: "Captain", rankCode: "OF-2", category: .staffOfficer,
            born: "1992-02-20", years: 9, languages: "uz:C2;ru:C2;en:B2", profile: .staff),
        .init(
            serviceNumber: "UZB-70013", latin: "Jasur Bakhodirovich Tursunov", cyrillic: "Жасур Баходирович Турсунов",
            sex: .male, contingent: "UZB", rank: "Captain", rankCode: "OF-2", category: .militaryObserver,
            born: "1990-06-06", years: 10, languages: "uz:C2;ru:C2;en:B1", profile: .observer),
    ]

    static func qualifications(_ profile: Profile, contingent: String) -> [Qualification] {
        let trainer = contingent == "KAZ" ? "KAZCENT" : contingent == "IND" ? "CUNPK" : "National training centre"
        let cptm = Qualification(
            kind: .training, code: "UN-CPTM", provider: trainer, issuedOn: date("2025-09-01"),
            expiresOn: date("2028-09-01"))
        let cptmExpired = Qualification(
            kind: .training, code: "UN-CPTM", provider: trainer, issuedOn: date("2023-05-01"),
            expiresOn: date("2026-05-01"))
        let unitPDT = Qualification(
            kind: .training, code: "UNIT-PDT", provider: contingent == "KAZ" ? "CUNPK" : trainer,
            issuedOn: date("2026-03-01"), expiresOn: date("2027-09-01"))
        let medical = Qualification(
            kind: .medical, code: "MEDICAL-CLEARANCE", provider: "Military medical board", issuedOn: date("2026-04-01"),
            expiresOn: date("2027-04-01"))
        let medicalExpired = Qualification(
            kind: .medical, code: "MEDICAL-CLEARANCE", provider: "Military medical board", issuedOn: date("2025-06-01"),
            expiresOn: date("2026-06-01"))
        let english = Qualification(
            kind: .language, code: "ENGLISH-TEST", provider: trainer, issuedOn: date("2025-11-15"), level: "B2")
        let firstAid = Qualification(
            kind: .firstAid, code: "FIRST-AID", provider: trainer, issuedOn: date("2026-02-10"),
            expiresOn: date("2028-02-10"))
        let weapons = Qualification(
            kind: .weapons, code: "WEAPONS-HANDLING", provider: trainer, issuedOn: date("2026-02-20"))
        let driving = Qualification(
            kind: .driving, code: "DRIVING-4X4", provider: trainer, issuedOn: date("2021-05-01"))
        let stmObserver = Qualification(
            kind: .training, code: "UN-STM-UNMO", provider: trainer, issuedOn: date("2025-10-20"),
            expiresOn: date("2028-10-20"))
        let stmStaff = Qualification(
            kind: .training, code: "UN-STM-SO", provider: trainer, issuedOn: date("2025-04-14"),
            expiresOn: date("2028-04-14"))
        let stmPolice = Qualification(
            kind: .training, code: "UN-STM-UNPOL", provider: trainer, issuedOn: date("2025-05-12"),
            expiresOn: date("2028-05-12"))
        let poc = Qualification(kind: .training, code: "POC", provider: trainer, issuedOn: date("2025-04-28"))
        let humanRights = Qualification(
            kind: .training, code: "HUMAN-RIGHTS", provider: trainer, issuedOn: date("2025-04-30"))
        switch profile {
        case .troop: return [cptm, unitPDT, poc, humanRights, medical, english, firstAid, weapons]
        case .troopCPTMExpired: return [cptmExpired, unitPDT, poc, humanRights, medical, english, firstAid, weapons]
        case .troopMedicalExpired: return [cptm, unitPDT, poc, humanRights, medicalExpired, english, firstAid, weapons]
        case .troopNoEnglish: return [cptm, unitPDT, poc, humanRights, medical, firstAid, weapons]
        case .observer: return [cptm, stmObserver, poc, humanRights, medical, english, driving]
        case .observerNoSTM: return [cptm, poc, humanRights, medical, english, driving]
        case .staff: return [cptm, stmStaff, poc, humanRights, medical, english]
        case .staffNoCPTM: return [stmStaff, poc, humanRights, medical, english]
        case .police: return [cptm, stmPolice, poc, humanRights, medical, english, driving, weapons]
        }
    }

    /// One seeded deployment; `subject` is a service number or a contingent code.
    struct SeededDeployment {
        var subject: String
        var mission: String
        var role: String
        var post: String?
        var start: String
        var end: String
        var status: DeploymentStatus
        var actualStart: String? = nil
        var actualEnd: String? = nil
        var drawdownRole = false
        var rotation: Int? = nil
        var leadNation: String? = nil
        var hostUnit: String? = nil
        var reason: String? = nil
    }

    static let deployments: [SeededDeployment] = {
        var list: [SeededDeployment] = [
            .init(
                subject: "KAZ", mission: "UNIFIL", role: "Infantry company (KAZCOY)", post: "Ibl al-Saqi, Sector East",
                start: "2026-06-15", end: "2026-12-14", status: .inMission, actualStart: "2026-06-15", rotation: 15,
                leadNation: "IND", hostUnit: "INDBATT"),
            .init(
                subject: "KAZ", mission: "UNIFIL", role: "Infantry company (KAZCOY)",
                post: "Ibl al-Saqi, Sector East",
                start: "2026-12-15", end: "2027-06-14", status: .planned, drawdownRole: true, rotation: 16,
                leadNation: "IND", hostUnit: "INDBATT"),
            .init(
                subject: "IND", mission: "UNIFIL", role: "Infantry battalion (INDBATT)",
                post: "Ibl al-Saqi, Sector East",
                start: "2026-04-01", end: "2027-03-31", status: .inMission, actualStart: "2026-04-01",
                drawdownRole: true),
        ]
        let kazRoles = [
            "Company commander", "Platoon commander", "Platoon commander", "Section commander",
            "Section commander", "Rifleman", "Rifleman", "Platoon commander",
        ]
        for (index, role) in kazRoles.enumerated() {
            list.append(
                .init(
                    subject: "KAZ-10010\(index + 1)", mission: "UNIFIL", role: role, post: "KAZCOY, INDBATT",
                    start: "2026-06-15", end: "2026-12-14", status: .inMission, actualStart: "2026-06-15", rotation: 15)
            )
        }
        let nextRoles = [
            "Company commander", "Platoon commander", "Section commander", "Section commander", "Rifleman",
        ]
        for (index, role) in nextRoles.enumerated() {
            list.append(
                .init(
                    subject: "KAZ-10020\(index + 1)", mission: "UNIFIL", role: role, post: "KAZCOY, INDBATT",
                    start: "2026-12-15", end: "2027-06-14", status: .planned, drawdownRole: true, rotation: 16))
        }
        list += [
            .init(
                subject: "KAZ-200301", mission: "MINURSO", role: "Military observer", post: "Team site Mahbas",
                start: "2026-03-01", end: "2027-02-28", status: .inMission, actualStart: "2026-03-02"),
            .init(
                subject: "KAZ-200302", mission: "MINURSO", role: "Military observer", post: "Team site Tifariti",
                start: "2026-03-01", end: "2027-02-28", status: .inMission, actualStart: "2026-03-02"),
            .init(
                subject: "KAZ-200303", mission: "MINURSO", role: "Team site commander", post: "Team site Smara",
                start: "2025-03-01", end: "2026-02-28", status: .ended, actualStart: "2025-03-01",
                actualEnd: "2026-02-28"),
            .init(
                subject: "KAZ-200304", mission: "UNIFIL", role: "Staff officer (J3 operations)",
                post: "UNIFIL HQ Naqoura",
                start: "2026-01-10", end: "2027-01-09", status: .inMission, actualStart: "2026-01-12",
                drawdownRole: true),
            .init(
                subject: "IND-IC-71234", mission: "UNIFIL", role: "Commanding officer", post: "INDBATT HQ",
                start: "2026-04-01", end: "2027-03-31", status: .inMission, actualStart: "2026-04-01",
                drawdownRole: true),
            .init(
                subject: "IND-IC-80345", mission: "UNIFIL", role: "Medical officer", post: "INDBATT level-1 hospital",
                start: "2026-04-01", end: "2027-03-31", status: .inMission, actualStart: "2026-04-01",
                drawdownRole: true),
            .init(
                subject: "IND-IC-84512", mission: "UNIFIL", role: "Company commander", post: "INDBATT",
                start: "2026-04-01", end: "2027-03-31", status: .inMission, actualStart: "2026-04-01",
                drawdownRole: true),
            .init(
                subject: "IND-JC-55821", mission: "UNIFIL", role: "Platoon commander", post: "INDBATT",
                start: "2026-04-01", end: "2027-03-31", status: .inMission, actualStart: "2026-04-01",
                drawdownRole: true),
            .init(
                subject: "IND-OR-90417", mission: "UNIFIL", role: "Section commander", post: "INDBATT",
                start: "2026-04-01", end: "2027-03-31", status: .inMission, actualStart: "2026-04-01",
                drawdownRole: true),
            .init(
                subject: "IND-OR-91533", mission: "UNIFIL", role: "Engagement team", post: "INDBATT",
                start: "2026-04-01", end: "2027-03-31", status: .inMission, actualStart: "2026-04-01",
                drawdownRole: true),
            .init(
                subject: "IND-IC-77290", mission: "UNIFIL", role: "Staff officer (J5 plans)", post: "UNIFIL HQ Naqoura",
                start: "2026-02-01", end: "2027-01-31", status: .inMission, actualStart: "2026-02-01",
                drawdownRole: true),
            .init(
                subject: "KGZ-30411", mission: "UNIFIL", role: "Staff officer (J2)", post: "Sector East HQ",
                start: "2026-05-01", end: "2026-12-31", status: .inMission, actualStart: "2026-05-03"),
            .init(
                subject: "KGZ-30412", mission: "UNMOGIP", role: "Military observer", post: "Field station Domel",
                start: "2027-01-15", end: "2028-01-14", status: .planned),
            .init(
                subject: "KGZ-30413", mission: "UNFICYP", role: "UN police officer", post: "Sector 2",
                start: "2026-07-01", end: "2027-06-30", status: .inMission, actualStart: "2026-07-02"),
            .init(
                subject: "KGZ-30414", mission: "UNFICYP", role: "UN police officer", post: "Pyla",
                start: "2026-07-01", end: "2027-06-30", status: .inMission, actualStart: "2026-07-02"),
            .init(
                subject: "TJK-5521", mission: "UNFICYP", role: "UN police officer", post: "Sector 1",
                start: "2026-07-01", end: "2027-06-30", status: .inMission, actualStart: "2026-07-02"),
            .init(
                subject: "TJK-5522", mission: "UNFICYP", role: "UN police officer", post: "Sector 4",
                start: "2026-07-01", end: "2027-06-30", status: .inMission, actualStart: "2026-07-02"),
            .init(
                subject: "TJK-5523", mission: "UNFICYP", role: "UN police officer", post: "Nicosia",
                start: "2026-07-01", end: "2027-06-30", status: .repatriatedEarly, actualStart: "2026-07-02",
                actualEnd: "2026-09-20", reason: "Family emergency"),
            .init(
                subject: "UZB-70011", mission: "UNFICYP", role: "Staff officer (U3)", post: "UNFICYP HQ Nicosia",
                start: "2027-02-01", end: "2028-01-31", status: .planned),
        ]
        return list
    }()

    static let equipment: [(Equipment, [(InspectionType, String, String)])] = [
        (
            Equipment(
                contingent: "KAZ", coeClass: .majorEquipment, category: "APC (wheeled), armoured",
                description: "BTR-82A",
                serial: "KAZ-COE-0001", leaseType: .wet), [(.arrival, "2026-06-20", "Serviceable, as per MOU")]
        ),
        (
            Equipment(
                contingent: "KAZ", coeClass: .majorEquipment, category: "Utility vehicle (4x4)",
                description: "Toyota Land Cruiser 79",
                serial: "KAZ-COE-0002", leaseType: .wet),
            [(.arrival, "2026-06-20", "Serviceable"), (.periodic, "2026-09-30", "Serviceable")]
        ),
        (
            Equipment(
                contingent: "KAZ", coeClass: .majorEquipment, category: "Water purification unit",
                description: "RO unit 2,000 l/h",
                serial: "KAZ-COE-0003", leaseType: .dry, status: .unserviceable),
            [(.periodic, "2026-09-30", "Pump failure; repair requested")]
        ),
        (
            Equipment(
                contingent: "KAZ", coeClass: .selfSustainment, category: "Catering", description: "Company kitchen",
                serial: "KAZ-SS-CAT-01", leaseType: .wet), []
        ),
        (
            Equipment(
                contingent: "IND", coeClass: .majorEquipment, category: "APC (wheeled), armoured",
                description: "Casspir Mk III",
                serial: "IND-COE-1101", leaseType: .wet), [(.arrival, "2026-04-05", "Serviceable")]
        ),
        (
            Equipment(
                contingent: "IND", coeClass: .selfSustainment, category: "Medical level 1",
                description: "INDBATT level-1 hospital",
                serial: "IND-SS-MED-01", leaseType: .wet), [(.periodic, "2026-10-01", "Meets standard")]
        ),
    ]

    /// Loads everything into `registry`, which must be empty (no contingents, missions or people).
    public static func load(into registry: Registry, as actor: Registry.Actor = .operator("seed")) throws {
        try registry.requireOperator(actor, to: "seed the registry")
        try registry.write(actor) { db, audit in
            let existing = try Int.fetchOne(
                db,
                sql: """
                    SELECT (SELECT COUNT(*) FROM contingent) + (SELECT COUNT(*) FROM mission)
                         + (SELECT COUNT(*) FROM person)
                    """)!
            guard existing == 0 else {
                throw RegistryError(
                    .invariantViolated, "the registry is not empty; seed data goes into a new database only")
            }
            for (mission, phases) in missions {
                try mission.insert(db)
                try audit.record(db, entity: "mission", id: mission.code, action: "create", after: mission)
                for (lifecycle, since) in phases {
                    let phase = MissionPhase(mission: mission.code, lifecycle: lifecycle, since: date(since))
                    try phase.insert(db)
                    try audit.record(db, entity: "missionPhase", id: mission.code, action: "create", after: phase)
                }
            }
            for contingent in contingents {
                try contingent.insert(db)
                try audit.record(db, entity: "contingent", id: contingent.code, action: "create", after: contingent)
            }
            var ids: [String: Int64] = [:]
            for seeded in people {
                var person = Person(
                    serviceNumber: seeded.serviceNumber, latinName: seeded.latin, cyrillicName: seeded.cyrillic,
                    sex: seeded.sex, nationality: seeded.contingent, contingent: seeded.contingent, rank: seeded.rank,
                    rankCode: seeded.rankCode, category: seeded.category, dateOfBirth: date(seeded.born),
                    commissionedServiceYears: seeded.years,
                    languages: seeded.languages.split(separator: ";").map { pair in
                        let parts = pair.split(separator: ":")
                        return LanguageSkill(code: String(parts[0]), level: LanguageLevel(rawValue: String(parts[1]))!)
                    })
                try person.insert(db)
                ids[person.serviceNumber] = person.id
                try audit.record(db, entity: "person", id: person.serviceNumber, action: "create", after: person)
                for var qualification in qualifications(seeded.profile, contingent: seeded.contingent) {
                    qualification.personId = person.id!
                    try qualification.insert(db)
                    try audit.record(
                        db, entity: "qualification", id: "\(person.serviceNumber)/\(qualification.id!)",
                        action: "create", after: qualification)
                }
            }
            for seeded in deployments {
                var deployment = Deployment(
                    personId: ids[seeded.subject], contingent: ids[seeded.subject] == nil ? seeded.subject : nil,
                    mission: seeded.mission, role: seeded.role, post: seeded.post, drawdownRole: seeded.drawdownRole,
                    leadNation: seeded.leadNation, hostUnit: seeded.hostUnit, rotation: seeded.rotation,
                    plannedStart: date(seeded.start), plannedEnd: date(seeded.end),
                    actualStart: seeded.actualStart.map(date), actualEnd: seeded.actualEnd.map(date),
                    status: seeded.status,
                    repatriationReason: seeded.reason)
                try deployment.insert(db)
                try audit.record(
                    db, entity: "deployment", id: "\(deployment.id!)", action: "create",
                    after: AuditedDeployment(subject: seeded.subject, deployment: deployment))
            }
            for (item, inspections) in equipment {
                var item = item
                try item.insert(db)
                try audit.record(db, entity: "equipment", id: item.serial, action: "create", after: item)
                for (type, day, result) in inspections {
                    var inspection = EquipmentInspection(
                        equipmentId: item.id!, type: type, date: date(day), result: result)
                    try inspection.insert(db)
                    try audit.record(
                        db, entity: "equipmentInspection", id: item.serial, action: "create", after: inspection)
                }
            }
        }
    }
}
