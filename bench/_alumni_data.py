"""Generated alumni for the directory and import benchmarks: many, fast, deterministic.

::

    async with db.database(settings) as ctx:
        await db.apply_migrations(ctx)
        world = await generate_alumni(100_000, seed=7)   # about 30 s on SQLite
    world.staff, world.attache      # the actors the directory is queried as
    world.seconds, world.rows       # how long it took; rows written per table

Into a fresh, migrated database: the countries (``seed_countries``), 25 embassies with
their accreditations, a staff user and an attaché (Nairobi: Kenya, Somalia, Uganda),
a catalogue of 50 courses (categories, schools, equipment tags), then ``count``
alumni across 30 countries with names in their scripts (Latin, Cyrillic, Arabic,
Greek, Georgian, Armenian, Devanagari, Thai, Hangul, Han) and the Latin spelling,
``search_key`` and ``SearchToken`` rows, one to three training records and one to
four career entries each (grades from the shipped rank tables), a few accounts,
pending registrations, withdrawn consents and "do not engage" flags.

Speed: rows are built in chunks and written with ``bulk_create`` with explicit ids
(nothing is read back), one transaction per chunk; names, search keys and grades are
computed once per distinct value. The same ``seed`` gives the same people.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from anyascii import anyascii
from tortoise import connections
from tortoise.models import Model
from tortoise.transactions import in_transaction

from engage.accounts.actor import Actor, load_actor
from engage.accounts.models import EmbassyAssignment, Role, User
from engage.alumni.grades import grade_level, table_grade
from engage.alumni.models import (
    Alumnus,
    AlumnusStatus,
    CareerEntry,
    CareerSource,
    Course,
    CourseCategory,
    SearchToken,
    Service,
    TrainingRecord,
    Vetting,
)
from engage.alumni.names import key_tokens, search_key
from engage.places.catalogue import catalogue
from engage.places.models import Accreditation, Embassy
from engage.places.seed import seed_countries

#: Alumni built and written per transaction.
CHUNK = 5_000
FIRST_CLASS_YEAR, LAST_CLASS_YEAR = 2000, 2024
FUNDING = ("IMET",) * 6 + ("FMS", "FMS", "other")

# Countries: "code share language zone", then given (g) and family (f) names over as
# many lines as they need. A name is "as written=Latin spelling", or just the name when
# it is already Latin; "_" stands for a space inside a name.
_COUNTRIES = """
KE 9 en Africa/Nairobi
KE g James Peter Grace Joseph Mercy David Faith Samuel Esther Brian
KE f Kamau Ochieng Mutua Kiprono Wafula Njoroge Odhiambo Chebet Mwangi Omondi
CO 7 es America/Bogota
CO g José=Jose Andrés=Andres Camilo Carolina Diana Sebastián=Sebastian Jorge Natalia Óscar=Oscar
CO g Julián=Julian
CO f García=Garcia Rodríguez=Rodriguez Martínez=Martinez López=Lopez Hernández=Hernandez
CO f Gutiérrez=Gutierrez Castillo Vargas Muñoz=Munoz Cárdenas=Cardenas
VN 6 vi Asia/Ho_Chi_Minh
VN g Văn_Minh=Van_Minh Thị_Lan=Thi_Lan Quốc_Huy=Quoc_Huy Đức_Anh=Duc_Anh Thanh_Tùng=Thanh_Tung
VN g Minh_Tuấn=Minh_Tuan Ngọc_Hà=Ngoc_Ha Quang_Hải=Quang_Hai
VN f Nguyễn=Nguyen Trần=Tran Lê=Le Phạm=Pham Hoàng=Hoang Huỳnh=Huynh Phan Vũ=Vu Đặng=Dang
VN f Bùi=Bui
UA 6 uk Europe/Kyiv
UA g Олександр=Oleksandr Андрій=Andrii Дмитро=Dmytro Сергій=Serhii Юлія=Yuliia Іван=Ivan
UA g Тарас=Taras Оксана=Oksana
UA f Коваленко=Kovalenko Шевченко=Shevchenko Бондаренко=Bondarenko Ткаченко=Tkachenko
UA f Кравченко=Kravchenko Мельник=Melnyk Бойко=Boiko Лисенко=Lysenko
KZ 3 kk Asia/Almaty
KZ g Айгерим=Aigerim Нурлан=Nurlan Ерлан=Yerlan Асхат=Askhat Даурен=Dauren Жанар=Zhanar
KZ f Ахметов=Akhmetov Сейткали=Seitkali Жумабаев=Zhumabayev Касымов=Kassymov Омаров=Omarov
KZ f Исаев=Issayev
SA 3 ar Asia/Riyadh
SA g محمد=Mohammed عبدالله=Abdullah فيصل=Faisal خالد=Khalid سلطان=Sultan تركي=Turki
SA f العتيبي=Al-Otaibi القحطاني=Al-Qahtani الشهري=Al-Shehri الدوسري=Al-Dosari الغامدي=Al-Ghamdi
SA f الحربي=Al-Harbi
UG 3 en Africa/Kampala
UG g Moses Ronald Brenda Isaac Patrick Juliet Emmanuel Sarah
UG f Okello Mugisha Nakato Ssempala Tumusiime Byaruhanga Kato Atuhaire
EC 2 es America/Guayaquil
EC g Diego Fernanda Santiago Pablo Gabriela Mateo
EC f Andrade Zambrano Cevallos Villacís=Villacis Paredes Salazar
SO 2 so Africa/Mogadishu
SO g Abdirahman Farah Hodan Mohamed Ayaan Hassan
SO f Abdi Warsame Jama Hussein Mohamud Osman
MN 2 mn Asia/Ulaanbaatar
MN g Ганбаатар=Ganbaatar Оюунчимэг=Oyuunchimeg Тэмүүлэн=Temuulen Болд=Bold Сарнай=Sarnai
MN f Дорж=Dorj Ганбат=Ganbat Энхбаяр=Enkhbayar Мөнхбат=Munkhbat Сүхбаатар=Sukhbaatar
KR 3 ko Asia/Seoul
KR g 민준=Min-jun 서연=Seo-yeon 지훈=Ji-hoon 현우=Hyun-woo 수빈=Su-bin 동현=Dong-hyun
KR f 김=Kim 이=Lee 박=Park 최=Choi 정=Jung 강=Kang
JP 2 ja Asia/Tokyo
JP g 大輔=Daisuke 健太=Kenta 美咲=Misaki 拓也=Takuya 直樹=Naoki
JP f 佐藤=Sato 鈴木=Suzuki 高橋=Takahashi 田中=Tanaka 渡辺=Watanabe
TH 3 th Asia/Bangkok
TH g สมชาย=Somchai สุดารัตน์=Sudarat ณัฐพล=Nattapon วิชัย=Wichai กิตติ=Kitti
TH f ศรีสุข=Srisuk ทองดี=Thongdee แก้วมณี=Kaewmanee บุญมา=Boonma
GE 2 ka Asia/Tbilisi
GE g გიორგი=Giorgi დავით=Davit ნინო=Nino ლევან=Levan ირაკლი=Irakli
GE f ბერიძე=Beridze კაპანაძე=Kapanadze გელაშვილი=Gelashvili მაისურაძე=Maisuradze
AM 1 hy Asia/Yerevan
AM g Արամ=Aram Տիգրան=Tigran Անի=Ani Նարեկ=Narek
AM f Սարգսյան=Sargsyan Պետրոսյան=Petrosyan Գրիգորյան=Grigoryan Խաչատրյան=Khachatryan
GR 2 el Europe/Athens
GR g Γιώργος=Giorgos Νίκος=Nikos Δημήτρης=Dimitris Μαρία=Maria Ελένη=Eleni
GR f Παπαδόπουλος=Papadopoulos Γεωργίου=Georgiou Οικονόμου=Oikonomou Νικολάου=Nikolaou
IN 4 hi Asia/Kolkata
IN g राहुल=Rahul अमित=Amit प्रिया=Priya विक्रम=Vikram सुनील=Sunil
IN f शर्मा=Sharma सिंह=Singh वर्मा=Verma यादव=Yadav गुप्ता=Gupta
JO 3 ar Asia/Amman
JO g أحمد=Ahmad عمر=Omar يوسف=Yousef ليث=Laith زيد=Zaid
JO f الخوالدة=Al-Khawaldeh العبادي=Al-Abbadi الزعبي=Al-Zoubi المجالي=Al-Majali
EG 3 ar Africa/Cairo
EG g محمود=Mahmoud مصطفى=Mostafa هشام=Hesham طارق=Tarek كريم=Karim
EG f منصور=Mansour حسن=Hassan سالم=Salem فؤاد=Fouad
MA 2 fr Africa/Casablanca
MA g Youssef Hamza Mehdi Salma Karim Nabil
MA f El_Amrani Benali Alaoui Bennani Tazi Chraibi
SN 2 fr Africa/Dakar
SN g Mamadou Ousmane Fatou Cheikh Abdoulaye Aïssatou=Aissatou
SN f Diop Ndiaye Fall Sarr Sow Mbaye
GH 3 en Africa/Accra
GH g Kwame Kofi Ama Yaw Akosua Kwabena
GH f Mensah Owusu Boateng Asante Osei Agyeman
NG 4 en Africa/Lagos
NG g Chinedu Oluwaseun Ibrahim Ngozi Emeka Aisha
NG f Okafor Adeyemi Bello Okonkwo Abubakar Eze
BR 3 pt America/Sao_Paulo
BR g João=Joao Lucas Gabriel Ana Rafael Letícia=Leticia
BR f Silva Santos Oliveira Souza Conceição=Conceicao Araújo=Araujo
MX 3 es America/Mexico_City
MX g Alejandro Fernando Guadalupe Ricardo Sofía=Sofia Héctor=Hector
MX f González=Gonzalez Sánchez=Sanchez Ramírez=Ramirez Flores Cruz
PE 2 es America/Lima
PE g Jorge Milagros Renzo Rosa Álvaro=Alvaro Miguel
PE f Quispe Mamani Huamán=Huaman Chávez=Chavez Torres
CL 2 es America/Santiago
CL g Matías=Matias Benjamín=Benjamin Catalina Cristóbal=Cristobal Francisca Tomás=Tomas
CL f Rojas Díaz=Diaz Soto Contreras Silva
PL 3 pl Europe/Warsaw
PL g Piotr Krzysztof Tomasz Agnieszka Łukasz=Lukasz Małgorzata=Malgorzata
PL f Nowak Kowalski Wiśniewski=Wisniewski Wójcik=Wojcik Kamiński=Kaminski
PH 4 en Asia/Manila
PH g Jose Mark Maricel Ramon Jerome Angelica
PH f Dela_Cruz Reyes Santos Bautista Garcia Mendoza
ID 4 id Asia/Jakarta
ID g Budi Agus Siti Dewi Eko Rizky
ID f Santoso Wijaya Hidayat Saputra Pratama Nugroho
"""

# Embassies: code, host country, the other countries it is accredited to.
_EMBASSIES = """
NBO KE SO UG|BOG CO EC|HAN VN|KBP UA|NQZ KZ MN|RUH SA|SEL KR|TYO JP|BKK TH|TBS GE AM|ATH GR
DEL IN|AMM JO|CAI EG|RBA MA|DKR SN|ACC GH|ABV NG|BSB BR|MEX MX|LIM PE|SCL CL|WAW PL|MNL PH|JKT ID
"""
#: The attaché the directory is queried as works at this embassy.
ATTACHE_EMBASSY = "NBO"
STAFF_EMAIL, ATTACHE_EMAIL = "staff@bench.example", "attache@bench.example"

# Officer ladders in the shipped rank tables' words (engage/alumni/ranks); an army
# NCO ladder for some; Colombia, Vietnam and Ukraine write ranks their own way.
LADDERS: dict[str, dict[str, list[str]]] = {
    "_common": {
        "army": ["Lieutenant", "Captain", "Major", "Lieutenant Colonel", "Colonel", "Brigadier"],
        "air_force": ["First Lieutenant", "Captain", "Major", "Lieutenant Colonel", "Colonel"],
        "navy": ["Lieutenant", "Lieutenant Commander", "Commander", "Captain", "Commodore"],
        "nco": ["Sergeant", "Staff Sergeant", "Sergeant First Class", "Master Sergeant"],
    },
    "CO": {"army": ["Teniente", "Capitán", "Mayor", "Teniente Coronel", "Coronel"]},
    "VN": {
        "army": ["Trung úy", "Thượng úy", "Đại úy", "Thiếu tá", "Trung tá", "Thượng tá", "Đại tá"]
    },
    "UA": {"army": ["Лейтенант", "Старший лейтенант", "Капітан", "Майор", "Підполковник"]},
}
_SERVICES = (Service.ARMY,) * 6 + (Service.AIR_FORCE,) * 2 + (Service.NAVY,) * 2
POSITIONS = [
    "Company Commander",
    "Battalion Executive Officer",
    "Staff Officer, Operations (G3)",
    "Instructor, Military Academy",
    "Defence Attaché",
    "Brigade Chief of Staff",
    "Director of Training",
    "Logistics Officer (G4)",
    "Intelligence Officer (G2)",
    "Commanding Officer",
]
UNITS = [
    "1st Infantry Brigade",
    "Joint Staff Headquarters",
    "Air Force Headquarters",
    "Naval Base Command",
    "Military Academy",
    "Special Operations Command",
    "Engineer Regiment",
    "Signals Battalion",
]


@dataclass(frozen=True)
class CountryData:
    code: str
    share: int
    language: str
    timezone: str
    #: (as written, Latin spelling or "")
    given: tuple[tuple[str, str], ...]
    family: tuple[tuple[str, str], ...]
    region: str


def _names(items: list[str]) -> tuple[tuple[str, str], ...]:
    pairs = []
    for item in items:
        written, _eq, latin = item.replace("_", " ").partition("=")
        pairs.append((written, latin))
    return tuple(pairs)


@functools.lru_cache(maxsize=1)
def countries() -> tuple[CountryData, ...]:
    """The 30 countries alumni are drawn from, with their names and M49 region."""
    regions = catalogue()
    heads: dict[str, list[str]] = {}
    names: dict[tuple[str, str], list[str]] = {}
    for line in _COUNTRIES.strip().splitlines():
        code, tag, *rest = line.split()
        if tag in ("g", "f"):
            names.setdefault((code, tag), []).extend(rest)
        else:
            heads[code] = [tag, *rest]
    return tuple(
        CountryData(
            code=code,
            share=int(share),
            language=language,
            timezone=zone,
            given=_names(names[code, "g"]),
            family=_names(names[code, "f"]),
            region=regions[code].region,
        )
        for code, (share, language, zone) in heads.items()
    )


@dataclass(frozen=True)
class CourseData:
    title: str
    school: str
    category: CourseCategory
    tags: tuple[str, ...]


@functools.lru_cache(maxsize=1)
def courses() -> tuple[CourseData, ...]:
    """50 courses: staff colleges, technical courses on equipment, English, seminars."""
    pme = [
        ("Command and General Staff Officer Course", "U.S. Army Command and General Staff College"),
        ("International Fellows Program", "U.S. Army War College"),
        ("Naval Command College", "U.S. Naval War College"),
        ("Naval Staff College", "U.S. Naval War College"),
        ("Air Command and Staff College", "Air University"),
        ("Air War College", "Air University"),
        ("Maneuver Captains Career Course", "Maneuver Center of Excellence"),
        ("Infantry Basic Officer Leader Course", "Maneuver Center of Excellence"),
        ("Sergeants Major Course", "U.S. Army Sergeants Major Academy"),
        ("Marine Corps Command and Staff College", "Marine Corps University"),
    ]
    systems = [
        ("C-130H", "Inter-American Air Forces Academy"),
        ("UH-60 Black Hawk", "Inter-American Air Forces Academy"),
        ("Patriot", "U.S. Army Fires Center of Excellence"),
        ("HIMARS", "U.S. Army Fires Center of Excellence"),
        ("ScanEagle UAS", "U.S. Army Intelligence Center of Excellence"),
        ("RQ-11 Raven", "U.S. Army Intelligence Center of Excellence"),
        ("Defender-class boat", "Naval Small Craft Instruction and Technical Training School"),
        ("Island-class patrol boat", "Naval Small Craft Instruction and Technical Training School"),
        ("M1117 armored vehicle", "U.S. Army Ordnance School"),
        ("HMMWV", "U.S. Army Ordnance School"),
        ("AN/TPS-77 radar", "Air Education and Training Command"),
        ("Talon robot", "Naval School Explosive Ordnance Disposal"),
        ("Cessna 208 Caravan", "Inter-American Air Forces Academy"),
        ("Bell 412", "Inter-American Air Forces Academy"),
    ]
    found = [CourseData(t, s, CourseCategory.PME, ()) for t, s in pme]
    for system, school in systems:
        for kind in ("Operator Course", "Maintenance Course"):
            found.append(
                CourseData(f"{system} {kind}", school, CourseCategory.TECHNICAL, (system,))
            )
    dli = "Defense Language Institute English Language Center"
    for title in (
        "American Language Course",
        "English Language Instructor Course",
        "Specialized English for Pilots",
        "Advanced English for Staff Officers",
    ):
        found.append(CourseData(title, dli, CourseCategory.ENGLISH, ()))
    for title, school in (
        ("Defense Resource Management Course", "Defense Resource Management Institute"),
        ("Civil-Military Relations Seminar", "Institute for Security Governance"),
        (
            "International Law of Military Operations",
            "Defense Institute of International Legal Studies",
        ),
        ("Peacekeeping Operations Seminar", "Center for Civil-Military Relations"),
        ("Cyber Defense Seminar", "Naval Postgraduate School"),
        ("Combating Terrorism Fellowship", "Naval Postgraduate School"),
        ("Maritime Security Seminar", "Naval Postgraduate School"),
        ("Human Rights Instructor Course", "Institute for Security Governance"),
    ):
        found.append(CourseData(title, school, CourseCategory.OTHER, ()))
    return tuple(found)


@dataclass
class World:
    """What :func:`generate_alumni` made: who to act as, and how long it took."""

    count: int
    staff: Actor
    attache: Actor
    #: The countries alumni were drawn from (codes, regions, names).
    countries: tuple[CountryData, ...]
    #: Course ids by title.
    course_ids: dict[str, int]
    seconds: float
    #: Rows written per table.
    rows: dict[str, int] = field(default_factory=dict)


@functools.cache
def _key(given: str, family: str, given_latin: str, family_latin: str) -> str:
    return search_key(given, family, given_latin, family_latin)


@functools.cache
def _tokens(key: str, given: str, family: str) -> tuple[str, ...]:
    # What refresh_search_tokens writes for these names.
    return tuple(key_tokens(key, given, family))


@functools.cache
def _slug(name: str) -> str:
    return "".join(c for c in anyascii(name).lower() if c.isalnum())


@functools.cache
def _grade(country: str, service: Service, rank: str) -> str:
    return table_grade(country, service, rank)


class _Maker:
    """Draws people, their training and careers, from one random stream."""

    def __init__(self, rng: random.Random, course_ids: Sequence[int], staff_id: int) -> None:
        self.rng = rng
        self.countries = countries()
        self.weights = [c.share for c in self.countries]
        self.course_ids = list(course_ids)
        self.staff_id = staff_id
        self.next_id = {"training": 0, "career": 0, "token": 0}

    def _id(self, table: str) -> int:
        self.next_id[table] += 1
        return self.next_id[table]

    def chunk(self, first: int, size: int, user_ids: Iterator[int]) -> dict[str, list[Model]]:
        """Rows for alumni ``first`` .. ``first + size - 1``, by table."""
        rows: dict[str, list[Model]] = {"user": [], "alumnus": [], "training": [], "career": []}
        rows["token"] = []
        picks = self.rng.choices(self.countries, weights=self.weights, k=size)
        for alumnus_id, country in enumerate(picks, start=first):
            self._person(alumnus_id, country, rows, user_ids)
        return rows

    def _person(
        self, pk: int, country: CountryData, rows: dict[str, list[Model]], user_ids: Iterator[int]
    ) -> None:
        rng = self.rng
        given, given_latin = rng.choice(country.given)
        family, family_latin = rng.choice(country.family)
        key = _key(given, family, given_latin, family_latin)
        service = rng.choice(_SERVICES)
        class_year = rng.randint(FIRST_CLASS_YEAR, LAST_CLASS_YEAR)
        roll = rng.random()
        pending = roll < 0.02
        email = None
        if rng.random() < 0.9:
            tld = country.code.lower()
            email = (
                f"{_slug(given_latin or given)}.{_slug(family_latin or family)}.{pk}@example.{tld}"
            )
        user_id = None
        if email and rng.random() < 0.05:
            user_id = next(user_ids)
            rows["user"].append(
                User(
                    id=user_id, email=email, email_key=email, role=Role.ALUMNUS, password_hash=None
                )
            )
        career = self._career(pk, country.code, service, class_year)
        latest = career[-1]
        rows["alumnus"].append(
            Alumnus(
                id=pk,
                given_name=given,
                family_name=family,
                given_name_latin=given_latin,
                family_name_latin=family_latin,
                search_key=key,
                email=email,
                email_key=email,
                phone=f"+{rng.randint(20, 999)} {rng.randint(100, 999)} {rng.randint(1000, 9999)}",
                country_id=country.code,
                service=service,
                rank=latest.rank,
                grade=latest.grade,
                grade_level=grade_level(latest.grade),
                position=latest.position,
                unit=rng.choice(UNITS) if rng.random() < 0.6 else "",
                language=country.language,
                timezone=country.timezone,
                status=self._status(class_year),
                vetting=Vetting.PENDING if pending else Vetting.CONFIRMED,
                confirmed_by_id=None if pending else self.staff_id,
                programme_id=None if pending else f"{country.code}-{class_year}-{pk:06d}",
                declared_class_year=class_year if pending else None,
                accepts_invitations=rng.random() < 0.97,
                accepts_newsletter=rng.random() < 0.92,
                do_not_engage=rng.random() < 0.01,
                user_id=user_id,
            )
        )
        rows["career"].extend(career)
        rows["training"].extend(self._training(pk, class_year))
        for token in _tokens(key, given, family):
            rows["token"].append(SearchToken(id=self._id("token"), alumnus_id=pk, token=token))

    def _status(self, class_year: int) -> AlumnusStatus:
        roll = self.rng.random()
        if roll < 0.01:
            return AlumnusStatus.DECEASED
        if roll < 0.04:
            return AlumnusStatus.LEFT_SERVICE
        if class_year < 2012 and roll < 0.35:
            return AlumnusStatus.RETIRED
        return AlumnusStatus.SERVING

    def _training(self, pk: int, class_year: int) -> list[TrainingRecord]:
        rng = self.rng
        count = rng.choices((1, 2, 3), weights=(50, 35, 15))[0]
        records = []
        year = class_year
        for course_id in rng.sample(self.course_ids, count):
            start = date(year, rng.randint(1, 12), rng.randint(1, 28))
            records.append(
                TrainingRecord(
                    id=self._id("training"),
                    alumnus_id=pk,
                    course_id=course_id,
                    start_date=start,
                    end_date=start + timedelta(weeks=rng.randint(2, 46)),
                    class_year=year,
                    funding_type=rng.choice(FUNDING),
                    graduated=rng.random() > 0.03,
                )
            )
            year = min(LAST_CLASS_YEAR, year + rng.randint(0, 4))
        return records

    def _career(
        self, pk: int, country: str, service: Service, class_year: int
    ) -> list[CareerEntry]:
        rng = self.rng
        own = LADDERS.get(country, {})
        if service is Service.ARMY and rng.random() < 0.2:
            ladder = LADDERS["_common"]["nco"]
        else:
            ladder = own.get(str(service)) or LADDERS["_common"][str(service)]
        steps = rng.randint(1, min(4, len(ladder)))
        first = rng.randint(0, len(ladder) - steps)
        start = date(class_year - rng.randint(2, 8), rng.randint(1, 12), 1)
        entries = []
        for step, rank in enumerate(ladder[first : first + steps]):
            entries.append(
                CareerEntry(
                    id=self._id("career"),
                    alumnus_id=pk,
                    rank=rank,
                    grade=_grade(country, service, rank),
                    position=rng.choice(POSITIONS),
                    effective_date=start.replace(year=start.year + 4 * step),
                    source=CareerSource.STAFF_VERIFIED,
                    verified_by_id=self.staff_id,
                )
            )
        return entries


_MODELS: dict[str, type[Model]] = {
    "user": User,
    "alumnus": Alumnus,
    "training": TrainingRecord,
    "career": CareerEntry,
    "token": SearchToken,
}


async def _places() -> dict[str, int]:
    """Countries, embassies and accreditations; embassy ids by code."""
    await seed_countries()
    names = {c.code: c for c in catalogue().values()}
    zones = {c.code: c.timezone for c in countries()}
    plan = [item.split() for item in _EMBASSIES.replace("\n", "|").split("|") if item.strip()]
    await Embassy.bulk_create(
        [
            Embassy(
                id=index,
                code=code,
                name=f"Embassy in {names[host].name}",
                country_id=host,
                city=zones[host].split("/")[-1].replace("_", " "),
                timezone=zones[host],
            )
            for index, (code, host, *_rest) in enumerate(plan, start=1)
        ]
    )
    await Accreditation.bulk_create(
        [
            Accreditation(embassy_id=index, country_id=country)
            for index, (_code, *covered) in enumerate(plan, start=1)
            for country in covered
        ]
    )
    return {code: index for index, (code, *_rest) in enumerate(plan, start=1)}


async def _fix_sequences() -> None:
    """PostgreSQL: move each id sequence past the explicit ids written above."""
    conn = connections.get("default")
    if conn.capabilities.dialect != "postgres":
        return
    for model in (*_MODELS.values(), Course, Embassy, Accreditation, EmbassyAssignment):
        table = model._meta.db_table
        await conn.execute_script(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
        )


async def generate_alumni(count: int, *, seed: int = 7, chunk: int = CHUNK) -> World:
    """Fill the open (fresh, migrated) database with ``count`` alumni; see the module doc."""
    clock = time.perf_counter()
    rng = random.Random(seed)
    embassies = await _places()
    await User.bulk_create(
        [
            User(id=1, email=STAFF_EMAIL, email_key=STAFF_EMAIL, role=Role.STAFF),
            User(id=2, email=ATTACHE_EMAIL, email_key=ATTACHE_EMAIL, role=Role.ATTACHE),
        ]
    )
    await EmbassyAssignment.create(user_id=2, embassy_id=embassies[ATTACHE_EMBASSY])
    catalogue_rows = [
        Course(id=index, title=c.title, school=c.school, category=c.category, tags=list(c.tags))
        for index, c in enumerate(courses(), start=1)
    ]
    await Course.bulk_create(catalogue_rows)
    maker = _Maker(rng, [c.id for c in catalogue_rows], staff_id=1)
    user_ids = iter(range(3, 3 + count))
    written = dict.fromkeys(_MODELS, 0)
    for first in range(1, count + 1, chunk):
        rows = maker.chunk(first, min(chunk, count + 1 - first), user_ids)
        async with in_transaction():
            for table, model in _MODELS.items():
                if rows[table]:
                    await model.bulk_create(rows[table], batch_size=len(rows[table]))
                    written[table] += len(rows[table])
    await _fix_sequences()
    staff, attache = await User.get(id=1), await User.get(id=2)
    return World(
        count=count,
        staff=await load_actor(staff),
        attache=await load_actor(attache),
        countries=countries(),
        course_ids={c.title: c.id for c in catalogue_rows},
        seconds=time.perf_counter() - clock,
        rows=written,
    )


async def analyze() -> bool:
    """PostgreSQL: refresh the planner's statistics, as autovacuum would soon after a
    bulk load. SQLite: nothing (Engage never runs ANALYZE there); False."""
    conn = connections.get("default")
    if conn.capabilities.dialect != "postgres":
        return False
    await conn.execute_script("ANALYZE")
    return True


def describe(world: World) -> dict[str, Any]:
    """The generated data in a few numbers, for a benchmark's parameters."""
    return {"alumni": world.count, **{f"{t}_rows": n for t, n in world.rows.items()}}
