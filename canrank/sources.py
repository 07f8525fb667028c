"""The catalogue of published sources canrank knows how to obtain and read.

Each entry says who publishes the file, what it is, its reference date and licence, where the
official copy lives, the exact published file name (the key used to find it in a cache or a
mirror), its sha256 where known, and which loader reads it. ``canrank sources`` prints it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "CATALOGUE",
    "ENGLAND_LSOAS",
    "IOD_COMPONENTS",
    "IOD_MEASURE_LABELS",
    "NATIONAL_RANK_SOURCES",
    "SOURCE_OVERLAPS",
    "Source",
    "StatXploreQuery",
    "get_source",
]


@dataclass(frozen=True)
class StatXploreQuery:
    """How to ask DWP's Stat-Xplore Open Data API for a source: one month, every LSOA.

    ``canrank fetch`` sends ``database``/``measure`` with ``geography`` (the LSOA-level valueset
    of the geography field) and ``month_field`` as the table's dimensions, the month recoded to
    ``month_value``, and checks the answer is for ``period``. Ids listed in ``unconfirmed``
    were inferred from the naming of confirmed ids, not seen in use: an error from the API
    names them.
    """

    database: str
    measure: str
    geography: str
    month_field: str
    month_value: str
    period: str  # "2017-02"
    countries: str = "E"  # LSOAs kept from the Great Britain answer
    unconfirmed: tuple[str, ...] = ()


@dataclass(frozen=True)
class Source:
    """One published file (plus sidecar files for shapefiles)."""

    id: str
    publisher: str
    title: str
    reference_date: str
    licence: str
    filename: str
    loader: str
    url: str | None = None
    sha256: str | None = None
    sidecars: tuple[str, ...] = ()
    archive: str | None = None  # the official download is a zip holding ``filename``
    how_to_get: str = ""
    notes: str = ""
    extra: dict[str, str] = field(default_factory=dict)
    local_path: str | None = None  # a user's own file named in the config (no cache/mirror)
    statxplore: StatXploreQuery | None = None  # fetched from the Stat-Xplore API when keyed

    def all_filenames(self) -> tuple[str, ...]:
        """The main file followed by any sidecars (e.g. .shx, .dbf, .prj)."""
        return (self.filename, *self.sidecars)


OGL = "Open Government Licence v3.0"
_LDS_BOUNDARIES = (
    "https://data.london.gov.uk/download/statistical-gis-boundaries-london/"
    "9ba8c833-6370-4b11-abdc-314aa020d5e0/statistical-gis-boundaries-london.zip"
)
_SHP = (".shx", ".dbf", ".prj")


def _shp(stem: str) -> tuple[str, tuple[str, ...]]:
    return f"{stem}.shp", tuple(f"{stem}{ext}" for ext in _SHP)


_lsoa_shp, _lsoa_side = _shp("LSOA_2011_London_gen_MHW")
_ward_shp, _ward_side = _shp("London_Ward_CityMerged")
_boro_shp, _boro_side = _shp("London_Borough_Excluding_MHW")

# --- Stat-Xplore API queries (canrank fetch with STATXPLORE_API_KEY) ---
# Confirmed from public code that queries the live API: the databases hb_new and PC_New, the
# measures str:count:hb_new:V_F_HB_NEW and str:count:PC_New:V_F_PC_CASELOAD_New, the geography
# fields <db>:...:COA_CODE, the date fields hb_new:F_HB_NEW_DATE:NEW_DATE_NAME (monthly) and
# PC_New:F_PC_QTR_New:DATE_NAME (quarterly), the HB month values ...:C_HB_NEW_DATE:YYYYMM,
# 2011-geography valuesets of COA_CODE named V_C_MASTERGEOG11_<LEVEL> (REGION_TO_COUNTRY,
# WARD_TO_LA, COUNTRY_TO_GB), and a valueset used directly as a table dimension.
# NOT confirmed (inferred): the LSOA valueset V_C_MASTERGEOG11_LSOA_TO_MSOA (seen only as
# V_C_MASTERGEOG21_LSOA_TO_MSOA, 2021 LSOAs, in UC_Monthly) and the Pension Credit quarter value
# ...:C_PC_QTR_New:YYYYMM (by analogy with C_DLA_QTR_New, C_CA_QTR_New, C_ESA_QTR_NEW).
_HB_QUERY = StatXploreQuery(
    database="str:database:hb_new",
    measure="str:count:hb_new:V_F_HB_NEW",
    geography="str:valueset:hb_new:V_F_HB_NEW:COA_CODE:V_C_MASTERGEOG11_LSOA_TO_MSOA",
    month_field="str:field:hb_new:F_HB_NEW_DATE:NEW_DATE_NAME",
    month_value="str:value:hb_new:F_HB_NEW_DATE:NEW_DATE_NAME:C_HB_NEW_DATE:201702",
    period="2017-02",
    unconfirmed=("geography",),
)
_PC_QUERY = StatXploreQuery(
    database="str:database:PC_New",
    measure="str:count:PC_New:V_F_PC_CASELOAD_New",
    geography="str:valueset:PC_New:V_F_PC_CASELOAD_New:COA_CODE:V_C_MASTERGEOG11_LSOA_TO_MSOA",
    month_field="str:field:PC_New:F_PC_QTR_New:DATE_NAME",
    month_value="str:value:PC_New:F_PC_QTR_New:DATE_NAME:C_PC_QTR_New:201611",
    period="2016-11",
    unconfirmed=("geography", "month_value"),
)

CATALOGUE: dict[str, Source] = {
    s.id: s
    for s in [
        Source(
            id="iod2015_file7",
            publisher="DCLG (now MHCLG)",
            title="English Indices of Deprivation 2015, File 7: all ranks, deciles and scores "
            "for the indices of deprivation, and population denominators",
            reference_date="2015-09-30 (indicators mostly 2012/13; population mid-2012)",
            licence=OGL,
            filename="File_7_ID_2015_All_ranks__deciles_and_scores_for_the_Indices_of_"
            "Deprivation__and_population_denominators.csv",
            loader="iod",
            url="https://assets.publishing.service.gov.uk/government/uploads/system/uploads/"
            "attachment_data/file/467774/File_7_ID_2015_All_ranks__deciles_and_scores_for_the_"
            "Indices_of_Deprivation__and_population_denominators.csv",
            sha256="4e385b6fbcb0a2448209405f655b0e0fbe09c179095bbaa660eaaffd08b76234",
        ),
        Source(
            id="iod2019_file7",
            publisher="MHCLG",
            title="English Indices of Deprivation 2019, File 7: all ranks, deciles and scores "
            "for the indices of deprivation, and population denominators",
            reference_date="2019-09-26 (indicators mostly 2015/16; population mid-2015; "
            "LSOA 2011, LAD 2019)",
            licence=OGL,
            filename="File_7_-_All_IoD2019_Scores__Ranks__Deciles_and_Population_Denominators_3.csv",
            loader="iod",
            url="https://assets.publishing.service.gov.uk/government/uploads/system/uploads/"
            "attachment_data/file/845345/File_7_-_All_IoD2019_Scores__Ranks__Deciles_and_"
            "Population_Denominators_3.csv",
            notes="not the 10-column England-and-Wales income extract sometimes named File_7a",
        ),
        Source(
            id="iod2025_file7",
            publisher="MHCLG",
            title="English Indices of Deprivation 2025, File 7: all ranks, scores, deciles and "
            "population denominators",
            reference_date="2025-10-30 (population mid-2022; LSOA 2021, LAD 2024)",
            licence=OGL,
            filename="File_7_IoD2025_All_Ranks_Scores_Deciles_Population_Denominators.csv",
            loader="iod",
            url="https://assets.publishing.service.gov.uk/media/691ded56d140bbbaa59a2a7d/"
            "File_7_IoD2025_All_Ranks_Scores_Deciles_Population_Denominators.csv",
            notes="on 2021 LSOAs: with 2011 boundaries configure lookups: {'2011-2021': "
            "lsoa11_lsoa21_lookup} and lsoa_vintage: '2021' on the indicator; the file at this "
            "URL is a re-issue of the 30 Oct 2025 original (media/68ff5daabcb10f6bf9bef911/)",
        ),
        Source(
            id="iod2019_london",
            publisher="MHCLG, repackaged for London by the GLA (London Datastore)",
            title="ID 2019 for London (English Indices of Deprivation 2019, London LSOAs)",
            reference_date="2019-09-26 (population mid-2015)",
            licence=OGL,
            filename="ID 2019 for London.xlsx",
            loader="iod",
            url=None,
            sha256="87c8cca5ad43a0568ede75a3573ac8a2fa2d87a02b139e4bfec806b6cc8462cf",
            how_to_get="download 'ID 2019 for London.xlsx' from the London Datastore dataset "
            "'indices-of-deprivation' and put it in data/raw/ or your mirror",
        ),
        Source(
            id="london_lsoa_2011",
            publisher="GLA / ONS (London Datastore, statistical-gis-boundaries-london)",
            title="LSOA 2011 boundaries for London, generalised, clipped to Mean High Water",
            reference_date="2011",
            licence=OGL + " (contains OS data © Crown copyright and database right 2012)",
            filename=_lsoa_shp,
            sidecars=_lsoa_side,
            loader="lsoa_boundaries",
            url=_LDS_BOUNDARIES,
            archive="statistical-gis-boundaries-london.zip",
            sha256="02773dbcb524c8a95e359c6634545a75f92e775168540d09ab2853c5e84642b4",
        ),
        Source(
            id="london_wards",
            publisher="GLA / ONS (London Datastore, statistical-gis-boundaries-london)",
            title="London wards (City of London merged into one ward), 2014 boundaries",
            reference_date="2014",
            licence=OGL,
            filename=_ward_shp,
            sidecars=_ward_side,
            loader="wards",
            url=_LDS_BOUNDARIES,
            archive="statistical-gis-boundaries-london.zip",
            sha256="9f6c4096fc3026f7749647717f2f9ca0cb7b690378950849bdc7557cb8c3a9dc",
        ),
        Source(
            id="london_boroughs",
            publisher="GLA / ONS (London Datastore, statistical-gis-boundaries-london)",
            title="London boroughs, excluding the Thames below Mean High Water",
            reference_date="2011",
            licence=OGL,
            filename=_boro_shp,
            sidecars=_boro_side,
            loader="boroughs",
            url=_LDS_BOUNDARIES,
            archive="statistical-gis-boundaries-london.zip",
            sha256="5d296f021b931c091b9b97fdfb4118406ee82376f7f1a73bf348236b1f68c0a5",
        ),
        Source(
            id="ew_lsoa_2011_bsc",
            publisher="ONS (Open Geography Portal)",
            title="LSOA (Dec 2011) Boundaries Super Generalised Clipped (BSC) EW V3",
            reference_date="2011-12",
            licence=OGL,
            filename="LSOA.geojson",
            loader="lsoa_boundaries",
            sha256="e636a2e550969fa61452443f6a04fded7f9fd51df9f00f052ed90c3eabb2258e",
            how_to_get="download the GeoJSON of 'LSOA (Dec 2011) Boundaries Super Generalised "
            "Clipped (BSC) EW V3' from the ONS Open Geography Portal as LSOA.geojson",
        ),
        Source(
            id="ew_lsoa_2021_bgc",
            publisher="ONS (Open Geography Portal)",
            title="Lower layer Super Output Areas (December 2021) Boundaries EW BGC (V5)",
            reference_date="2021-12",
            licence=OGL + " (contains OS data © Crown copyright and database right)",
            filename="Lower_layer_Super_Output_Areas_December_2021_Boundaries_EW_BGC_V5.geojson",
            loader="lsoa_boundaries",
            how_to_get="download the GeoJSON of 'Lower layer Super Output Areas (December 2021) "
            "Boundaries EW BGC (V5)' from geoportal.statistics.gov.uk (the portal adds a number "
            "to the name; save it under this name); fields LSOA21CD, LSOA21NM",
        ),
        Source(
            id="ew_lsoa_2021_bsc",
            publisher="ONS (Open Geography Portal)",
            title="Lower layer Super Output Areas (December 2021) Boundaries EW BSC (V4)",
            reference_date="2021-12",
            licence=OGL + " (contains OS data © Crown copyright and database right)",
            filename="Lower_layer_Super_Output_Areas_December_2021_Boundaries_EW_BSC_V4.geojson",
            loader="lsoa_boundaries",
            how_to_get="download the GeoJSON of 'Lower layer Super Output Areas (December 2021) "
            "Boundaries EW BSC (V4)' from geoportal.statistics.gov.uk and save it under this name",
        ),
        Source(
            id="lsoa11_lsoa21_lookup",
            publisher="ONS (Open Geography Portal)",
            title="LSOA (2011) to LSOA (2021) to Local Authority District (2022) Exact Fit "
            "Lookup for EW (V3)",
            reference_date="2022 (LSOA 2011 and 2021, LAD 2022)",
            licence=OGL,
            filename="LSOA_(2011)_to_LSOA_(2021)_to_Local_Authority_District_(2022)_Exact_Fit_"
            "Lookup_for_EW_(V3).csv",
            loader="lsoa_lookup",
            how_to_get="download the CSV of 'LSOA (2011) to LSOA (2021) to Local Authority "
            "District (2022) Exact Fit Lookup for EW (V3)' from geoportal.statistics.gov.uk "
            "(also listed on data.gov.uk); columns LSOA11CD, LSOA11NM, LSOA21CD, LSOA21NM, "
            "CHGIND, LAD22CD, LAD22NM, LAD22NMW, ObjectId",
            notes="CHGIND: U unchanged, S 2011 LSOA split, M 2011 LSOAs merged, X complex",
        ),
        Source(
            id="ageuk_loneliness_london",
            publisher="ONS table CT0467 (Age UK model), London extract by the GLA",
            title="Probability of loneliness for those aged 65 and over (London, LSOA)",
            reference_date="2011-03-27 (2011 Census)",
            licence=OGL,
            filename="london-loneliness-MSOA-LSOA.xlsx",
            loader="loneliness",
            url="https://data.london.gov.uk/download/probability-of-loneliness-for-those-aged-"
            "65-and-over/7403c3fc-6be3-47b1-9dc7-9f9b5568be0c/london-loneliness-MSOA-LSOA.xlsx",
            sha256="a69c362f83d524cae72fd95118384c93de15362d1a9ba5b254dd5c8f2bb72408",
        ),
        Source(
            id="dwp_hb_lsoa_2017_02",
            publisher="DWP (Stat-Xplore)",
            title="Housing Benefit claimants by LSOA, February 2017",
            reference_date="2017-02",
            licence=OGL,
            filename="housing-benefit-claimants-lsoa-2017-02.csv",
            loader="statxplore",
            how_to_get="set STATXPLORE_API_KEY (Stat-Xplore: Account > Open Data API Access) and "
            "run `canrank fetch dwp_hb_lsoa_2017_02`, which queries the API and writes this file "
            "(the LSOA valueset id it uses is inferred, not confirmed); or export 'Housing "
            "Benefit: Claimants' by Lower Layer Super Output Area for Feb-17 from Stat-Xplore "
            "(table view, CSV) and save it under this name",
            statxplore=_HB_QUERY,
        ),
        Source(
            id="dwp_pc_lsoa_2016_11",
            publisher="DWP (Stat-Xplore)",
            title="Pension Credit claimants by LSOA, November 2016",
            reference_date="2016-11",
            licence=OGL,
            filename="pension-credit-claimants-lsoa-2016-11.csv",
            loader="statxplore",
            how_to_get="set STATXPLORE_API_KEY (Stat-Xplore: Account > Open Data API Access) and "
            "run `canrank fetch dwp_pc_lsoa_2016_11`, which queries the API and writes this file "
            "(the LSOA valueset and quarter ids it uses are inferred, not confirmed); or export "
            "'Pension Credit: Claimants' by Lower Layer Super Output Area for Nov-16 from "
            "Stat-Xplore (table view, CSV) and save it under this name",
            statxplore=_PC_QUERY,
        ),
        Source(
            id="hmrc_cilif_2014",
            publisher="HMRC",
            title="Children in low-income families local measure: 2014 snapshot (LSOA sheet)",
            reference_date="2014-08-31",
            licence=OGL,
            filename="children-in-low-income-families-local-measure-2014-lsoa.xlsx",
            loader="hmrc_cilif",
            how_to_get="download the HMRC 'Children in low-income families local measure: 2014 "
            "snapshot as at 31 August 2014' LSOA workbook from GOV.UK and save it under this name",
        ),
    ]
}


def get_source(source_id: str) -> Source:
    """Return a catalogue entry, or raise ``KeyError`` listing the known ids."""
    try:
        return CATALOGUE[source_id]
    except KeyError:
        known = ", ".join(sorted(CATALOGUE))
        raise KeyError(f"unknown source {source_id!r}; known sources: {known}") from None


# --- IoD structure and national ranks (issue 15; read by canrank.analysis) ---
#: Which IoD measures are built from which (IoD 2015, 2019 and 2025 Technical Reports), by
#: canrank's tidy measure names (the ``<measure>_score`` / ``_rank`` / ``_decile`` columns of the
#: ``iod`` loader). The number is the component's weight in its parent where it has one: the IMD
#: combines the seven domains (Income and Employment 22.5 % each, Education and Health 13.5 %,
#: Crime, Barriers and Living Environment 9.3 %); sub-domains make up their domain. IDACI and
#: IDAOPI have no weight: they are subsets of the Income domain (its income-deprived children
#: aged 0-15 and adults aged 60+), so anything containing the Income domain contains them too.
IOD_COMPONENTS: dict[str, dict[str, float | None]] = {
    "imd": {
        "income": 0.225,
        "employment": 0.225,
        "education": 0.135,
        "health": 0.135,
        "crime": 0.093,
        "barriers": 0.093,
        "living_environment": 0.093,
    },
    "income": {"idaci": None, "idaopi": None},
    "education": {"cyp": 0.5, "adult_skills": 0.5},
    "barriers": {"geographical_barriers": 0.5, "wider_barriers": 0.5},
    "living_environment": {"indoors": 2 / 3, "outdoors": 1 / 3},
}

#: Plain names of the IoD measures, for warnings and labels.
IOD_MEASURE_LABELS: dict[str, str] = {
    "imd": "the IMD",
    "income": "the Income domain",
    "employment": "the Employment domain",
    "education": "the Education, Skills and Training domain",
    "health": "the Health Deprivation and Disability domain",
    "crime": "the Crime domain",
    "barriers": "the Barriers to Housing and Services domain",
    "living_environment": "the Living Environment domain",
    "idaci": "IDACI",
    "idaopi": "IDAOPI",
    "cyp": "the Children and Young People sub-domain",
    "adult_skills": "the Adult Skills sub-domain",
    "geographical_barriers": "the Geographical Barriers sub-domain",
    "wider_barriers": "the Wider Barriers sub-domain",
    "indoors": "the Indoors sub-domain",
    "outdoors": "the Outdoors sub-domain",
}

#: Non-IoD sources that count largely the same people as an IoD measure: source id ->
#: (the IoD measure, why). Pension Credit (Guarantee Credit) claimants are an input of IDAOPI
#: and the Income domain; HMRC's children in low-income families (out-of-work benefits, or tax
#: credits below 60 % of median income) is IDACI's population at another date. Housing Benefit
#: is not an IoD input and is deliberately not listed (its correlation is measured instead).
SOURCE_OVERLAPS: dict[str, tuple[str, str]] = {
    "dwp_pc_lsoa_2016_11": (
        "idaopi",
        "Pension Credit (Guarantee Credit) claimants are counted in IDAOPI",
    ),
    "hmrc_cilif_2014": (
        "idaci",
        "children in low-income families are the population IDACI counts, at another date",
    ),
}

#: How many LSOAs England has, by LSOA geography vintage: the "of N" of an IoD national rank.
ENGLAND_LSOAS: dict[str, int] = {"2011": 32_844, "2021": 33_755}

#: Sources whose ``<measure>_rank`` (1 = most deprived) and ``<measure>_decile`` columns rank
#: every LSOA in England (even the GLA's London-only workbook keeps the national ranks), with
#: the LSOA vintage they rank. The England-and-Wales income extract's ranks are ``*_rank_ew``
#: and are not national English ranks.
NATIONAL_RANK_SOURCES: dict[str, str] = {
    "iod2015_file7": "2011",
    "iod2019_file7": "2011",
    "iod2019_london": "2011",
    "iod2025_file7": "2021",
}
# --- end IoD structure ---
