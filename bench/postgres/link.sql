-- The analyst's alternative to tfmatch, doing the same work in SQL: load
-- the four agencies' extracts, normalise them (normalize.sql), derive the
-- same kinds of match and block keys as agency/derive (every kind of
-- package matchkey, with nickname variants, name parts, middle names,
-- day/month and name swaps, Soundex, the identifier deletion
-- neighbourhood, address and household-group keys), HMAC-SHA256 each
-- under its kind's key, blind every token again under a matcher key, link
-- records into persons (joins on equal tokens with the guards, connected
-- components by label propagation), form households from address and
-- group tokens, and count the households the phase-1 rules flag.
-- run.sh times it. psql variables: load (a file of \copy commands for the
-- extracts and the nickname table), asof (the indicators' reference date).
\set ON_ERROR_STOP on
set client_min_messages = warning;
\ir normalize.sql

create unlogged table step (n serial, name text, t timestamptz default clock_timestamp());
create function mark(s text) returns void language sql as $$ insert into step (name) values (s) $$;
select mark('start') \gset

create unlogged table council_raw (person_id text, title text, forename text, middle_names text, surname text,
  date_of_birth text, gender text, nhs_number text, address_line_1 text, address_line_2 text, address_line_3 text,
  town text, postcode text, uprn text, family_ref text, cin_status text, domestic_abuse_flag text,
  cause_for_concern text, housing_asb_eviction_date text);
create unlogged table dwp_raw (claim_ref text, nino text, surname text, forename text, dob text, addr1 text,
  addr2 text, addr3 text, addr4 text, postcode text, benefit text, claim_start text, claim_end text,
  claim_role text, benefit_unit text);
create unlogged table education_raw (pupil_id text, upn text, legal_surname text, legal_forename text,
  legal_middle_names text, preferred_surname text, dob text, sex text, address_line_1 text, address_line_2 text,
  address_line_3 text, address_line_4 text, postcode text, la_estab text, enrolment_status text, on_roll text,
  unauthorised_absence_pct text, fixed_term_exclusions text, permanently_excluded text);
create unlogged table police_raw (nominal_id text, surname text, first_name text, sex text, dob text,
  address text, postcode text, offence_date text, outcome text, asb_intervention text, asb_date text);
-- variant → canonical given name (agency/normalize/nicknames.txt), in file order.
create unlogged table nick (variant text, canon text, sex text, ord int);

\i :load
create index on nick (variant);
analyze council_raw; analyze dwp_raw; analyze education_raw; analyze police_raw; analyze nick;
select mark('load') \gset

-- ---------------------------------------------------------------------
-- Normalise. The mappings (mappings/*.yaml of the district) in SQL: each
-- agency's columns onto the canonical fields, its dates in its format,
-- its indicators as the mapping's CEL expressions say.
create view mapped as
  select 'council'::text src, person_id rid, title, forename given, middle_names middle, surname family,
         parse_date(date_of_birth, 'DD/MM/YYYY') dob, gender sex, null::text nino, nhs_number nhs, null::text upn,
         uprn, concat_ws(', ', nullif(address_line_1, ''), nullif(address_line_2, ''), nullif(address_line_3, ''), nullif(town, '')) address,
         postcode, family_ref household_ref, null::text unit_ref, null::text other,
         coalesce(months_since(parse_date(housing_asb_eviction_date, 'DD/MM/YYYY'), :'asof') < 12, false) crime_asb,
         false education, false work,
         coalesce(cin_status in ('CIN', 'CP', 'LAC') or domestic_abuse_flag = 'Y' or cause_for_concern = 'Y', false) local_concern
    from council_raw
  union all
  select 'dwp', claim_ref, null, forename, null, surname, parse_date(dob, 'DD-MON-YYYY'), null, nino, null, null,
         null, concat_ws(', ', nullif(addr1, ''), nullif(addr2, ''), nullif(addr3, ''), nullif(addr4, '')),
         postcode, null, benefit_unit, null,
         false, false,
         coalesce(benefit in ('JSA', 'ESA', 'IS', 'IB', 'CA', 'SDA')
                  and (parse_date(claim_end, 'DD/MM/YYYY') is null or parse_date(claim_end, 'DD/MM/YYYY') >= :'asof'::date), false),
         false
    from dwp_raw
  union all
  select 'education', pupil_id, null, legal_forename, legal_middle_names, legal_surname, parse_date(dob, 'YYYY-MM-DD'),
         sex, null, null, upn, null,
         concat_ws(', ', nullif(address_line_1, ''), nullif(address_line_2, ''), nullif(address_line_3, ''), nullif(address_line_4, '')),
         postcode, null, null, null,
         false,
         coalesce(permanently_excluded = 'Y'
                  or case when fixed_term_exclusions ~ '^\s*[0-9.]+\s*$' then fixed_term_exclusions::numeric >= 3 end
                  or case when unauthorised_absence_pct ~ '^\s*[0-9.]+\s*$' then unauthorised_absence_pct::numeric >= 15 end
                  or enrolment_status in ('PRU', 'AP') or on_roll = 'N', false),
         false, false
    from education_raw
  union all
  select 'police', nominal_id, null, first_name, null, surname, parse_date(dob, 'YYYYMMDD'), sex, null, null, null,
         null, address, postcode, null, null, null,
         coalesce((extract(year from age(:'asof'::date, parse_date(dob, 'YYYYMMDD'))) < 18
                   and parse_date(dob, 'YYYYMMDD') <= :'asof'::date and outcome = 'PROVEN'
                   and months_since(parse_date(offence_date, 'DD/MM/YYYY'), :'asof') < 12)
                  or (coalesce(asb_intervention, '') <> '' and months_since(parse_date(asb_date, 'YYYY-MM-DD'), :'asof') < 12), false),
         false, false, false
    from police_raw;

-- One row per usable record, every value canonical (null when missing).
create unlogged table rec as
select row_number() over ()::int id, x.*
  from (
  select m.src, btrim(m.rid) rid,
         gn[1] given,
         -- given-name variants: the name, then the formal names it may stand for
         case when gn[1] is not null then array[gn[1]] || coalesce((
           select array_agg(n.canon order by n.ord) from nick n
            where n.variant = gn[1]
              and (sx not in ('m', 'f') or sx is null or n.sex in ('u', sx)
                   or not exists (select 1 from nick n2 where n2.variant = gn[1] and n2.sex in ('u', sx)))), '{}') end variants,
         gn[2:] middle,
         nullif(fn[1], '') family,
         case when cardinality(fn) > 2 and length(fn[1]) >= 2
              then array(select p from unnest(fn[2:]) p where length(p) >= 2 and p <> fn[1]) else '{}' end parts,
         m.dob, sx sex,
         nino(m.nino) nino, nhs(m.nhs) nhs, upn(m.upn) upn, other_id(m.other) other_id,
         case when not a.nfa then uprn(m.uprn) end uprn,
         case when not a.nfa then a.pc end postcode,
         case when not a.nfa and a.pc is null then raw_postcode(m.postcode) end raw_postcode,
         case when not a.nfa then a.flat end flat,
         case when not a.nfa then a.num end num,
         a.nfa,
         nullif(btrim(m.household_ref), '') household_ref, nullif(btrim(m.unit_ref), '') unit_ref,
         m.crime_asb, m.education, m.work, m.local_concern
    from mapped m
    cross join lateral given_names(m.given, m.middle) gn
    cross join lateral family_name(m.family) fn
    cross join lateral (select sex_norm(m.sex) sx, postcode(m.postcode) fpc) s
    cross join lateral parse_address(m.address, s.fpc is null) a0
    cross join lateral (select coalesce(fpc, a0.pc) pc, a0.flat, a0.num,
                               a0.nfa or is_nfa(fold_addr(m.postcode)) or upper(replace(m.postcode, ' ', '')) = 'ZZ993VZ' nfa) a
   where btrim(m.rid) <> ''
     and (gn[1] is not null or fn[1] <> '' or nino(m.nino) is not null or nhs(m.nhs) is not null
          or upn(m.upn) is not null or other_id(m.other) is not null)
  ) x;
analyze rec;
select mark('normalise') \gset

-- ---------------------------------------------------------------------
-- Keys and HMAC. Kinds as in package matchkey; the id is the kind's
-- strength, so lower is stronger. Each kind's key is HKDF-SHA256 of the
-- programme secret with the agreement's hash as salt; group kinds are
-- keyed with the agency's own local key.
create unlogged table kind (id smallint primary key, name text, class text);
insert into kind values
  (0, 'nino', 'identifier'), (1, 'nhs', 'identifier'), (2, 'upn', 'identifier'),
  (10, 'name_dob', 'person'), (11, 'name_dob_daymonth', 'person'), (12, 'name_swapped_dob', 'person'),
  (13, 'initial_surname_dob_postcode', 'person'), (14, 'phonetic_dob', 'person'),
  (15, 'name_yob_postcode', 'person'), (16, 'given_dob_postcode', 'person'),
  (17, 'name_daymonth_postcode', 'person'), (18, 'other_id', 'person'),
  (20, 'uprn', 'address'), (21, 'address', 'address'), (22, 'house', 'address'),
  (30, 'group', 'group'), (31, 'unit', 'group'),
  (40, 'block_phonetic_yob', 'block'), (41, 'block_name', 'block'), (42, 'block_family_dob', 'block'),
  (43, 'block_given_dob', 'block'), (44, 'block_dob_postcode', 'block'), (45, 'block_family_postcode', 'block'),
  (46, 'block_given_postcode', 'block'), (47, 'block_phonetic_postcode', 'block'),
  (48, 'block_postcode_number', 'block'), (49, 'block_phonetic_family_dob', 'block'),
  (50, 'block_given_phonetic_family', 'block'), (51, 'block_other_id_near', 'block');
create unlogged table secret as
  select gen_random_bytes(32) programme, digest('tfmatch bench information-sharing agreement', 'sha256') isa,
         gen_random_bytes(32) blinding;
create unlogged table kind_key as
  select k.id kind, s.src, case when k.class = 'group'
           then hkdf(gen_random_bytes(32), '', 'tfmatch/v1/local/group')
           else hkdf(secret.programme, secret.isa, 'tfmatch/v1/' || k.name || '/1') end key
    from kind k, secret, (values ('council'), ('dwp'), ('education'), ('police')) s(src);

-- Every key of every record, then one HMAC per distinct key.
create unlogged table token as
select k.id, k.kind, hmac(k.canon, kk.key, 'sha256') tok
  from (
  select distinct r.id, r.src, x.kind, x.canon
    from (select r.*, to_char(dob, 'YYYY-MM-DD') d, to_char(dob, 'YYYY') y,
                 to_char(dob, 'DD') dd, to_char(dob, 'MM') mm,
                 case when length(family) >= 2 then family end fam,
                 array(select g from unnest(variants) g where length(g) >= 2) gv,
                 case when length(family) >= 2 then sdx(family) end sf,
                 coalesce(postcode, raw_postcode) bpc
            from rec r) r
   cross join lateral (
     -- identifiers
     select 0::smallint kind, c1(r.nino) canon
     union all select 1, c1(r.nhs)
     union all select 2, c1(r.upn)
     union all select 18, c1(r.other_id)
     -- person kinds, once per given-name variant
     union all select 10, c3(g, r.fam, r.d) from unnest(r.gv) g
     union all select 10, c3(r.middle[1], r.fam, r.d) where length(r.middle[1]) >= 2
     union all select 10, c3(g, p, r.d) from unnest(r.gv) g, unnest(r.parts) p where r.fam is not null
     union all select 11, c5(g, r.fam, r.y, least(r.dd collate "C", r.mm), greatest(r.dd collate "C", r.mm)) from unnest(r.gv) g
     union all select 12, c3(least(g collate "C", r.fam), greatest(g collate "C", r.fam), r.d) from unnest(r.gv) g where r.fam is not null
     union all select 13, c4(left(g, 1), f, r.d, r.postcode)
                 from unnest(r.variants) g, unnest(array[r.fam] || r.parts) f
     union all select 14, c3(sdx(g), r.sf, r.d) from unnest(r.gv) g where r.fam is not null
     union all select 15, c4(g, r.fam, r.y, r.postcode) from unnest(r.gv) g
     union all select 16, c3(g, r.d, r.postcode) from unnest(r.gv) g
     union all select 17, c5(g, r.fam, r.dd, r.mm, r.postcode) from unnest(r.gv) g
     -- address kinds
     union all select 20, c1(r.uprn)
     union all select 21, c3(r.postcode, r.num, r.flat)
     union all select 22, c2(r.postcode, r.num) where r.flat is null
     -- the agency's household groupings (keyed with its local key)
     union all select 30, c1(r.household_ref)
     union all select 31, c1(r.unit_ref)
     -- block kinds
     union all select 40, c3(sdx(g), r.sf, r.y) from unnest(r.gv) g
     union all select 41, c2(g, r.fam) from unnest(r.gv) g
     union all select 43, c2(g, r.d) from unnest(r.gv) g
     union all select 46, c2(g, r.bpc) from unnest(r.gv) g
     union all select 47, c3(sdx(g), r.sf, r.bpc) from unnest(r.gv) g
     union all select 50, c2(g, r.sf) from unnest(r.gv) g
     union all select 49, c2(r.sf, r.d)
     union all select 51, c1(r.other_id) where length(r.other_id) >= 7
     union all select 51, c1(left(r.other_id, i - 1) || substr(r.other_id, i + 1))
                 from generate_series(1, length(r.other_id)) i where length(r.other_id) >= 7
     union all select 42, c2(r.fam, r.d)
     union all select 45, c2(r.fam, r.bpc)
     union all select 44, c2(r.d, r.bpc)
     union all select 48, c2(r.bpc, r.num) where not r.nfa
   ) x
   where x.canon is not null
  ) k
  join kind_key kk on kk.kind = k.kind and kk.src = k.src;
select mark('keys + hmac') \gset

-- Blind: the matcher re-keys every token with its own key before it
-- stores or compares it.
create unlogged table btok as
  select t.id, t.kind, hmac(t.tok, s.blinding, 'sha256') tok from token t, secret s;
create index on btok (kind, tok);
analyze btok;
select mark('blind') \gset

-- ---------------------------------------------------------------------
-- Every join from here on is a bulk join of large tables on uniformly
-- random tokens, whose result sizes the planner underestimates (a few
-- rows instead of hundreds of thousands) and then joins by nested loops
-- over sequential scans. Hash and merge joins are what these need.
set enable_nestloop = off;

-- Link. Record pairs sharing a token of an identifier or person kind,
-- each pair once with the strongest kind that links it, under the guards:
-- a token held by more than 12 records is not used; two records holding
-- different values of one identifier kind never link; two records of one
-- agency link only on an identifier or name_dob.
create unlogged table rec_id as
  select r.id, r.src, i.nino, i.nhs, i.upn
    from rec r left join (
      select id, (array_agg(tok) filter (where kind = 0))[1] nino, (array_agg(tok) filter (where kind = 1))[1] nhs,
             (array_agg(tok) filter (where kind = 2))[1] upn
        from btok where kind <= 2 group by id) i using (id);
create unique index on rec_id (id);
analyze rec_id;

create unlogged table edge as
  with tg as (
    select kind, tok from btok where kind < 20 group by kind, tok having count(*) between 2 and 12)
  select p.a, p.b, min(p.kind) kind
    from (select a.id a, b.id b, a.kind
            from tg join btok a using (kind, tok) join btok b using (kind, tok)
           where a.id < b.id) p
    join rec_id ra on ra.id = p.a
    join rec_id rb on rb.id = p.b
   where (ra.src <> rb.src or p.kind <= 10)
     and not coalesce(ra.nino <> rb.nino, false)
     and not coalesce(ra.nhs <> rb.nhs, false)
     and not coalesce(ra.upn <> rb.upn, false)
   group by p.a, p.b;
analyze edge;

-- Connected components: every record starts as its own label and takes
-- the smallest label among its neighbours until nothing changes.
create unlogged table person_of as select id, id lbl from rec;
create unique index on person_of (id);
create unlogged table edge2 as select a, b from edge union all select b, a from edge;
create index on edge2 (a);
analyze person_of; analyze edge2;
create function propagate(tbl regclass, edges regclass) returns int language plpgsql as $$
declare
  n int;
  rounds int := 0;
begin
  loop
    execute format('update %s t set lbl = m.lbl from (
                      select e.a id, min(x.lbl) lbl from %s e join %s x on x.id = e.b group by e.a) m
                    where t.id = m.id and m.lbl < t.lbl', tbl, edges, tbl);
    get diagnostics n = row_count;
    rounds := rounds + 1;
    exit when n = 0;
  end loop;
  return rounds;
end $$;
select propagate('person_of', 'edge2') link_rounds \gset
select mark('link') \gset

-- Blocking for the similarity tier: pairs of records of different
-- agencies in different persons sharing a block, person or address token
-- (blocks of at most 64 records). tfmatch compares the Bloom-filter
-- encodings of these pairs; SQL has no filters to compare, so this only
-- counts the candidates (the join is the work).
create unlogged table candidate as
  with bg as (
    select kind, tok from btok where kind between 10 and 29 or kind >= 40 group by kind, tok having count(*) between 2 and 64)
  select distinct a.id a, b.id b
    from bg join btok a using (kind, tok) join btok b using (kind, tok)
    join rec ra on ra.id = a.id join rec rb on rb.id = b.id
    join person_of pa on pa.id = a.id join person_of pb on pb.id = b.id
   where a.id < b.id and ra.src <> rb.src and pa.lbl <> pb.lbl;
select mark('blocking (candidates only)') \gset

-- ---------------------------------------------------------------------
-- Households. Address tokens (uprn, address, house) and group tokens
-- (household reference, benefit unit) of each person, with the guards:
-- a house token (no flat) in a building where other records name flats is
-- moved to the one flat of the building whose resident shares the
-- record's family name and postcode, else not used; a person's home is
-- the address most agencies report (a tie: no home address); an address
-- or group held by more than 12 persons is not used; two persons with
-- different household references of one agency are not joined by an
-- address.
create unlogged table rec_addr as
  with building as (
    select id, tok from btok where kind = 48),
  flat_building as (
    select distinct bb.tok building, a.tok flat, a.id
      from btok a join building bb on bb.id = a.id where a.kind = 21),
  house as (
    select h.id, h.tok, bb.tok building from btok h join building bb on bb.id = h.id where h.kind = 22),
  moved as (  -- ambiguous house tokens: the one flat whose resident shares a family + postcode block
    select h.id, (array_agg(f.flat))[1] flat, count(distinct f.flat) nflats
      from house h
      join btok fp on fp.id = h.id and fp.kind = 45
      join btok fq on fq.kind = 45 and fq.tok = fp.tok
      join flat_building f on f.id = fq.id and f.building = h.building
     group by h.id)
  select b.id, b.kind, b.tok from btok b where b.kind in (20, 21)
  union all
  select h.id, 22, h.tok from house h
   where not exists (select 1 from flat_building f where f.building = h.building)
  union all
  select m.id, 21, m.flat from moved m where m.nflats = 1;

create unlogged table person_addr as
  with votes as (
    select p.lbl person, a.kind, a.tok, count(distinct r.src) votes
      from rec_addr a join person_of p using (id) join rec r using (id)
     group by p.lbl, a.kind, a.tok),
  best as (
    select v.*, max(votes) over (partition by person) top from votes v),
  home as (
    select * from best where votes = top),
  tied as (  -- two different dwellings (not a UPRN beside its address) with the top vote
    select person from home where kind <> 20 group by person having count(*) > 1)
  select person, kind, tok from home where person not in (select person from tied)
  union all
  select p.lbl, b.kind, b.tok from btok b join person_of p using (id) where b.kind in (30, 31);

create unlogged table hh_edge as
  with usable as (
    select kind, tok from person_addr group by kind, tok having count(distinct person) between 2 and 12),
  href as (  -- each person's household reference (council family reference)
    select person, (array_agg(tok order by tok))[1] ref from person_addr where kind = 30 group by person)
  select distinct a.person a, b.person b
    from usable u join person_addr a using (kind, tok) join person_addr b using (kind, tok)
    left join href ha on ha.person = a.person left join href hb on hb.person = b.person
   where a.person < b.person and (u.kind >= 30 or not coalesce(ha.ref <> hb.ref, false));

create unlogged table household_of as select distinct lbl id, lbl from person_of;
create unique index on household_of (id);
create unlogged table hh_edge2 as select a, b from hh_edge union all select b, a from hh_edge;
create index on hh_edge2 (a);
analyze household_of; analyze hh_edge2;
select propagate('household_of', 'hh_edge2') household_rounds \gset
select mark('households') \gset

-- ---------------------------------------------------------------------
-- Flag: household facts (members with each indicator), then the phase-1
-- rules of matcher/rules/phase1.yaml, first that holds.
create unlogged table flagged as
  with person_ind as (
    select p.lbl person, bool_or(r.crime_asb) crime_asb, bool_or(r.education) education,
           bool_or(r.work) work, bool_or(r.local_concern) local_concern
      from rec r join person_of p using (id) group by p.lbl),
  facts as (
    select h.lbl household, count(*) members,
           count(*) filter (where crime_asb) crime_asb, count(*) filter (where education) education,
           count(*) filter (where work) work, count(*) filter (where local_concern) local_concern
      from person_ind i join household_of h on h.id = i.person group by h.lbl)
  select household, case
           when crime_asb > 0 and education > 0 and work > 0 then 'all_three'
           when (crime_asb > 0)::int + (education > 0)::int + (work > 0)::int >= 2 and local_concern > 0 then 'two_plus_local'
         end rule
    from facts
   where (crime_asb > 0 and education > 0 and work > 0)
      or ((crime_asb > 0)::int + (education > 0)::int + (work > 0)::int >= 2 and local_concern > 0);
select mark('flag') \gset

-- ---------------------------------------------------------------------
\pset footer off
\echo
\echo 'PostgreSQL steps (wall time):'
select s.name step, round(extract(epoch from s.t - p.t)::numeric, 2) seconds
  from step s join step p on p.n = s.n - 1 order by s.n;
\echo 'counts:'
select (select count(*) from rec) records,
       (select count(*) from council_raw) + (select count(*) from dwp_raw) + (select count(*) from education_raw)
         + (select count(*) from police_raw) - (select count(*) from rec) rejected,
       (select count(*) from token) tokens,
       round((select count(*) from token)::numeric / (select count(*) from rec), 2) tokens_per_record,
       (select count(*) from edge) linked_pairs,
       :link_rounds link_rounds,
       (select count(distinct lbl) from person_of) persons,
       (select count(*) from candidate) block_candidates,
       (select count(distinct lbl) from household_of) households,
       (select count(*) from flagged) flagged,
       (select count(*) from flagged where rule = 'all_three') all_three,
       (select count(*) from flagged where rule = 'two_plus_local') two_plus_local;
\echo 'tokens and links by kind:'
select k.name kind, k.class, count(t.*) tokens,
       (select count(*) from edge e where e.kind = k.id) links
  from kind k left join token t on t.kind = k.id group by k.id, k.name, k.class order by k.id;
select round(extract(epoch from max(t) - min(t))::numeric, 2) total_s from step \gset
\echo 'total (load to flag):' :total_s 's'
