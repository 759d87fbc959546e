-- Normalisation and match-key helpers in SQL and PL/pgSQL: what an
-- analyst would write to follow agency/normalize and agency/derive as far
-- as SQL reasonably allows. link.sql includes this file.
--
-- Text folding uses the unaccent dictionary (NFKD-like accent removal,
-- ß → ss, æ → ae, ø → o, ł → l...), lower case, apostrophes deleted and
-- every other character that is not a letter (names) or a letter or digit
-- (addresses) a word separator. Letters of other scripts are dropped
-- rather than kept (normalize keeps them, lower-cased).

create extension if not exists pgcrypto;
create extension if not exists unaccent;
create extension if not exists fuzzystrmatch;

-- Names: letters only, single spaces.
create function fold_name(s text) returns text stable parallel safe strict language sql as $$
  select btrim(regexp_replace(lower(unaccent('unaccent'::regdictionary,
           translate(s, E'\'’‘`´ʼʻ′ʹ', ''))), '[^a-z]+', ' ', 'g'))
$$;

-- Addresses: letters and digits; '/' between two of them and '-' between
-- two digits survive.
create function fold_addr(s text) returns text stable parallel safe strict language sql as $$
  select btrim(regexp_replace(regexp_replace(regexp_replace(
           regexp_replace(lower(unaccent('unaccent'::regdictionary, translate(s, E'\'’‘`´ʼʻ′ʹ', ''))),
             '[^a-z0-9/-]+', ' ', 'g'),
           '(?<![0-9])-|-(?![0-9])', ' ', 'g'),
           '(?<![a-z0-9])/|/(?![a-z0-9])', ' ', 'g'),
         ' +', ' ', 'g'))
$$;

create function words(s text) returns text[] immutable parallel safe language sql as $$
  select case when s is null or s = '' then '{}'::text[] else string_to_array(s, ' ') end
$$;

-- Titles (folded word → canonical), strong titles, suffixes, particles.
create function title_of(w text) returns text immutable parallel safe language sql as $$
  select ('{"mr":"mr","mister":"mr","mrs":"mrs","ms":"ms","miss":"miss","mx":"mx","master":"master",
    "mstr":"master","dr":"dr","doctor":"dr","rev":"rev","revd":"rev","reverend":"rev","prof":"prof",
    "professor":"prof","sir":"sir","dame":"dame","lord":"lord","lady":"lady","fr":"fr","father":"fr",
    "capt":"capt","captain":"capt","sgt":"sgt","cllr":"cllr"}'::jsonb) ->> w
$$;
create function strong_title(w text) returns boolean immutable parallel safe language sql as $$
  select coalesce(title_of(w) = any('{mr,mrs,ms,miss,mx,dr,rev,prof,cllr,sgt}'::text[]), false)
$$;
create function is_suffix(w text) returns boolean immutable parallel safe language sql as $$
  select w = any('{jr,jnr,junior,sr,snr,senior,ii,iii,iv,esq}'::text[])
$$;
create function particle(w text) returns text immutable parallel safe language sql as $$
  select ('{"van":"van","von":"von","der":"der","den":"den","de":"de","da":"da","di":"di","del":"del",
    "della":"della","des":"des","du":"du","la":"la","le":"le","los":"los","las":"las","dos":"dos",
    "das":"das","ten":"ten","ter":"ter","al":"al","el":"el","bin":"bin","ibn":"ibn","ap":"ap",
    "mac":"mac","mc":"mc","o":"o","st":"st","saint":"st"}'::jsonb) ->> w
$$;

-- Given-name field and middle-names field → {given, middle...}: leading
-- titles and trailing suffixes out, hyphens split names, each name once.
create function given_names(g text, m text) returns text[] immutable parallel safe language plpgsql as $$
declare
  w text[] := words(fold_name(g));
  o text[] := '{}';
  x text;
begin
  while cardinality(w) > 0 and title_of(w[1]) is not null and (cardinality(w) > 1 or strong_title(w[1])) loop
    w := w[2:];
  end loop;
  while cardinality(w) > 1 and is_suffix(w[cardinality(w)]) loop
    w := w[1:cardinality(w) - 1];
  end loop;
  foreach x in array w || words(fold_name(m)) loop
    if not x = any(o) then o := o || x; end if;
  end loop;
  return o;
end $$;

-- Family name → {canonical, part...}: all words joined; parts split on
-- spaces and hyphens with particles attached to the following word.
create function family_name(s text) returns text[] immutable parallel safe language plpgsql as $$
declare
  w text[] := words(fold_name(s));
  parts text[] := '{}';
  pending text := '';
  i int;
begin
  while cardinality(w) > 1 and is_suffix(w[cardinality(w)]) loop
    w := w[1:cardinality(w) - 1];
  end loop;
  while cardinality(w) > 1 and title_of(w[1]) is not null loop
    w := w[2:];
  end loop;
  if cardinality(w) = 0 then return '{}'; end if;
  for i in 1..cardinality(w) loop
    if i < cardinality(w) and particle(w[i]) is not null then
      pending := pending || particle(w[i]);
    else
      parts := parts || (pending || w[i]);
      pending := '';
    end if;
  end loop;
  return array_to_string(parts, '') || parts;
end $$;

create function sex_norm(s text) returns text stable parallel safe language sql as $$
  select case replace(fold_addr(s), ' ', '')
    when 'm' then 'm' when 'male' then 'm' when 'man' then 'm' when 'boy' then 'm' when '1' then 'm'
    when 'f' then 'f' when 'female' then 'f' when 'woman' then 'f' when 'girl' then 'f' when '2' then 'f' when 'w' then 'f'
    when 'u' then 'u' when 'unknown' then 'u' when 'notknown' then 'u' when 'notspecified' then 'u'
    when 'unspecified' then 'u' when 'x' then 'u' when 'other' then 'u' when 'o' then 'u' when 'i' then 'u'
    when 'indeterminate' then 'u' when '0' then 'u' when '9' then 'u' when 'n' then 'u' end
$$;

-- A date in one of the extracts' formats (as the mappings declare them):
-- a real date with a plausible year (1890-2100), else null.
create function parse_date(s text, fmt text) returns date immutable parallel safe language plpgsql as $$
declare
  y int;
  m int;
  d int;
  maxd int := 31;
begin
  s := btrim(s);
  if s is null or s = '' then return null; end if;
  -- Fixed positions and a digits check: PostgreSQL's regexp_match with
  -- capture groups cost up to a millisecond a call on this machine.
  if fmt = 'DD/MM/YYYY' and length(s) = 10 and translate(s, '0123456789', '') = '//'
     and substr(s, 3, 1) = '/' and substr(s, 6, 1) = '/' then
    y := substr(s, 7, 4); m := substr(s, 4, 2); d := substr(s, 1, 2);
  elsif fmt = 'DD-MON-YYYY' and length(s) = 11 and translate(substr(s, 1, 2) || substr(s, 8, 4), '0123456789', '') = ''
        and substr(s, 3, 1) = '-' and substr(s, 7, 1) = '-' then
    y := substr(s, 8, 4); d := substr(s, 1, 2);
    m := array_position('{JAN,FEB,MAR,APR,MAY,JUN,JUL,AUG,SEP,OCT,NOV,DEC}'::text[], upper(substr(s, 4, 3)));
  elsif fmt = 'YYYY-MM-DD' and length(s) = 10 and translate(s, '0123456789', '') = '--'
        and substr(s, 5, 1) = '-' and substr(s, 8, 1) = '-' then
    y := substr(s, 1, 4); m := substr(s, 6, 2); d := substr(s, 9, 2);
  elsif fmt = 'YYYYMMDD' and length(s) = 8 and translate(s, '0123456789', '') = '' then
    y := substr(s, 1, 4); m := substr(s, 5, 2); d := substr(s, 7, 2);
  else
    return null;
  end if;
  if not (y between 1890 and 2100 and m between 1 and 12 and d >= 1) then return null; end if;
  if m = 2 then
    if y % 4 = 0 and (y % 100 <> 0 or y % 400 = 0) then maxd := 29; else maxd := 28; end if;
  elsif m in (4, 6, 9, 11) then
    maxd := 30;
  end if;
  if d <= maxd then return make_date(y, m, d); end if;
  return null;
end $$;

-- Whole months from d to asof (CEL months_since), days (days_since).
create function months_since(d date, asof date) returns int immutable parallel safe language sql as $$
  select (extract(year from age(asof, d)) * 12 + extract(month from age(asof, d)))::int
$$;

-- Identifiers: separators out, upper case, letters and digits only.
create function compact(s text) returns text immutable parallel safe language plpgsql as $$
declare
  c text := upper(translate(btrim(s), E' \t-./', ''));
begin
  if c = '' or c !~ '^[A-Z0-9]*$' then return null; end if;
  return c;
end $$;

create function nino(s text) returns text immutable parallel safe language plpgsql as $$
declare
  c text := compact(s);
begin
  if c ~ '^[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z][0-9]{6}[A-D]?$'
     and left(c, 2) <> all('{BG,GB,KN,NK,NT,TN,ZZ}') and substr(c, 3, 6) <> '000000' then
    return left(c, 8);
  end if;
  return null;
end $$;

create function nhs(s text) returns text immutable parallel safe language plpgsql as $$
declare
  c text := compact(s);
  sum int := 0;
  chk int;
  i int;
begin
  if c is null or c !~ '^[0-9]{10}$' or c ~ '^(.)\1{9}$' then return null; end if;
  for i in 1..9 loop
    sum := sum + substr(c, i, 1)::int * (11 - i);
  end loop;
  chk := 11 - sum % 11;
  if chk = 11 then chk := 0; end if;
  if chk = 10 or chk <> substr(c, 10, 1)::int then return null; end if;
  return c;
end $$;

create function upn(s text) returns text immutable parallel safe language plpgsql as $$
declare
  alpha constant text := 'ABCDEFGHJKLMNPQRTUVWXYZ';
  c text := compact(s);
  sum int := 0;
  i int;
  v int;
begin
  if c is null or c !~ '^[A-Z][0-9]{11}[0-9A-Z]$' then return null; end if;
  for i in 2..13 loop
    if substr(c, i, 1) ~ '[0-9]' then
      v := substr(c, i, 1)::int;
    else
      v := strpos(alpha, substr(c, i, 1)) - 1;
      if v < 0 then return null; end if;
    end if;
    sum := sum + v * i;
  end loop;
  if substr(c, 1, 1) <> substr(alpha, sum % 23 + 1, 1) then return null; end if;
  return c;
end $$;

create function uprn(s text) returns text immutable parallel safe language plpgsql as $$
declare
  d text := replace(regexp_replace(btrim(s), '\.0*$', ''), ' ', '');
begin
  if d !~ '^[0-9]+$' then return null; end if;
  d := ltrim(d, '0');
  if d = '' or length(d) > 12 then return null; end if;
  return d;
end $$;

create function other_id(s text) returns text immutable parallel safe language plpgsql as $$
declare
  c text := upper(regexp_replace(s, '[^0-9A-Za-z]', '', 'g'));
begin
  if length(c) < 4 or c ~ '^(.)\1*$' then return null; end if;
  return c;
end $$;

-- UK postcode, canonical ("LS1 1AB"), or null.
create function postcode(s text) returns text immutable parallel safe language plpgsql as $$
declare
  c text := upper(translate(s, E' \t-.', ''));
  n int := length(c);
begin
  if n is null or n < 5 or n > 7 or c !~ '^[A-Z0-9]+$' then return null; end if;
  if substr(c, n - 2, 1) = 'O' then c := overlay(c placing '0' from n - 2); end if;
  if c = 'GIR0AA' then return 'GIR 0AA'; end if;
  if c ~ '^([A-PR-UWYZ][0-9]{1,2}|[A-PR-UWYZ][A-HK-Y][0-9]{1,2}|[A-PR-UWYZ][0-9][A-HJKPSTUW]|[A-PR-UWYZ][A-HK-Y][0-9][ABEHMNPRVWXY])[0-9][ABD-HJLNP-UW-Z]{2}$' then
    return left(c, n - 3) || ' ' || right(c, 3);
  end if;
  return null;
end $$;

create function raw_postcode(s text) returns text immutable parallel safe language plpgsql as $$
declare
  c text := upper(translate(s, E' \t-.', ''));
begin
  if c ~ '^[A-Z0-9]{3,10}$' then return c; end if;
  return null;
end $$;

create function is_nfa(t text) returns boolean immutable parallel safe language sql as $$
  select t = any('{nfa,"n f a","nfa nfa","no fixed abode","of no fixed abode","no fixed address",
                   "no fixed residence",homeless,"no abode","no fixed"}'::text[])
      or t like 'nfa %' or t like '% nfa' or t like '%no fixed abode%' or t like '%no fixed address%'
      or t like '%zz99 3vz%' or t like '%zz993vz%'
$$;

create function is_house_number(w text) returns boolean immutable parallel safe language sql as $$
  select coalesce(w ~ '^[0-9]+([a-z]|-[0-9]+[a-z]?)?$', false)
$$;
create function is_flat_id(w text) returns boolean immutable parallel safe language sql as $$
  select coalesce(w ~ '^([0-9]+([a-z]|-[0-9]+[a-z]?)?|[a-z]|[a-z][0-9]+)$', false)
$$;
create function trim_zeros(w text) returns text immutable parallel safe language sql as $$
  select regexp_replace(w, '^0+(?=[0-9])', '')
$$;

-- Street-type abbreviations expanded, as in house names.
create function expand_word(w text) returns text immutable parallel safe language sql as $$
  select coalesce(('{"rd":"road","st":"street","str":"street","ave":"avenue","av":"avenue","avn":"avenue",
    "cl":"close","clo":"close","dr":"drive","drv":"drive","cres":"crescent","cresc":"crescent","ln":"lane",
    "gdns":"gardens","gdn":"garden","pl":"place","sq":"square","ct":"court","crt":"court","terr":"terrace",
    "ter":"terrace","tce":"terrace","gr":"grove","grv":"grove","gro":"grove","pk":"park","wy":"way",
    "wk":"walk","hts":"heights","pde":"parade","mt":"mount","blvd":"boulevard","bldgs":"buildings",
    "bldg":"building","cott":"cottage","cotts":"cottages","est":"estate","hse":"house","mws":"mews",
    "apts":"apartments","lwr":"lower","upr":"upper","gt":"great","nth":"north","sth":"south",
    "app":"approach","cir":"circus","clse":"close","cnr":"corner","fm":"farm","grn":"green","hl":"hill",
    "rw":"row","vw":"view","yd":"yard"}'::jsonb) ->> w, w)
$$;
create function is_street_type(w text) returns boolean immutable parallel safe language sql as $$
  select expand_word(w) = any('{road,street,lane,avenue,close,drive,crescent,gardens,garden,place,square,
    court,terrace,grove,park,way,walk,row,hill,rise,mews,view,green,parade,mount,vale,wharf,yard,quay,
    boulevard,approach,circus,croft,gate,heights,meadow,meadows,path,promenade,broadway,wynd,brae,loan,
    fold,chase,end,side,bank,dale,field,fields,passage,ride,glade}'::text[])
$$;
create function house_name(seg text) returns text immutable parallel safe language plpgsql as $$
declare
  w text[] := words(seg);
  i int;
begin
  if cardinality(w) > 1 and w[1] = 'the' then w := w[2:]; end if;
  for i in 1..cardinality(w) loop
    if i = 1 and cardinality(w) > 1 and w[1] = 'st' then w[1] := 'saint'; else w[i] := expand_word(w[i]); end if;
  end loop;
  return nullif(array_to_string(w, ' '), '');
end $$;

-- A free-text address → flat, house number (or house name), postcode
-- found in the text, no fixed abode. A simplified normalize.ParseAddress:
-- comma-separated parts, postcode anywhere (last part first), flat
-- markers, floor flats and "2/14", a lone flat id before a numbered part,
-- the first numbered part's number, else a house name before the street.
-- The text is searched for a postcode only when find_postcode is set (the
-- postcode column is missing or invalid; normalize searches always, but
-- the postcode column wins).
create function parse_address(s text, find_postcode boolean, out flat text, out num text, out pc text, out nfa boolean)
  immutable parallel safe language plpgsql as $$
declare
  seg text[] := '{}';
  w text[];
  o text[];
  p text;
  x text;
  i int;
  j int;
  k int;
  n int;
  st int;
begin
  nfa := false;
  if s is null then return; end if;
  foreach p in array regexp_split_to_array(s, E'[,;\n\r|]') loop
    x := fold_addr(p);
    if x <> '' then seg := seg || x; end if;
  end loop;
  n := cardinality(seg);
  if n = 0 then return; end if;
  if is_nfa(array_to_string(seg, ' ')) then nfa := true; return; end if;
  -- Postcode: last part first, a word pair before a single word.
  <<pcs>>
  for k in reverse n..1 loop
    exit when not find_postcode;
    w := words(seg[k]);
    for i in reverse cardinality(w)..1 loop
      if length(w[i]) = 3 and i > 1 and length(w[i - 1]) between 2 and 4 then
        pc := postcode(w[i - 1] || w[i]);
        if pc is not null then seg[k] := array_to_string(w[1:i - 2] || w[i + 1:], ' '); exit pcs; end if;
      end if;
      if length(w[i]) between 5 and 7 then
        pc := postcode(w[i]);
        if pc is not null then seg[k] := array_to_string(w[1:i - 1] || w[i + 1:], ' '); exit pcs; end if;
      end if;
    end loop;
  end loop;
  -- Flats.
  for k in 1..n loop
    w := words(seg[k]);
    o := '{}';
    i := 1;
    while i <= cardinality(w) loop
      x := w[i];
      if flat is null and x = any('{flat,flt,apartment,apt,appartment,unit,room,rm,maisonette,suite,bedsit}') then
        j := i + 1;
        while j <= cardinality(w) and w[j] in ('no', 'number') loop j := j + 1; end loop;
        if j <= cardinality(w) and is_flat_id(w[j]) then
          flat := trim_zeros(w[j]);
          i := j;
        elsif j > cardinality(w) and k < n and seg[k + 1] !~ ' ' and is_flat_id(seg[k + 1]) then
          flat := trim_zeros(seg[k + 1]);
          seg[k + 1] := '';
        else
          o := o || x;
        end if;
      elsif flat is null and x in ('gff', 'gfl', 'bsmt', 'fff', 'sff', 'tff') then
        flat := ('{"gff":"gf","gfl":"gf","bsmt":"bf","fff":"1f","sff":"2f","tff":"tf"}'::jsonb) ->> x;
        if i < cardinality(w) and w[i + 1] in ('flat', 'flt', 'apartment', 'apt') then i := i + 1; end if;
      elsif flat is null and i < cardinality(w) and w[i + 1] = 'floor'
            and x = any('{basement,lower,ground,first,1st,second,2nd,third,3rd,fourth,4th,top,upper}') then
        flat := ('{"basement":"bf","lower":"lg","ground":"gf","first":"1f","1st":"1f","second":"2f",
                   "2nd":"2f","third":"3f","3rd":"3f","fourth":"4f","4th":"4f","top":"tf","upper":"uf"}'::jsonb) ->> x;
        i := least(i + 2, cardinality(w));
      elsif flat is null and x ~ '^[^/]+/[^/]+$' then
        if is_flat_id(split_part(x, '/', 1)) and is_house_number(split_part(x, '/', 2)) then
          flat := trim_zeros(split_part(x, '/', 1));
          o := o || split_part(x, '/', 2);
        else
          o := o || string_to_array(x, '/');
        end if;
      elsif x like '%/%' then
        o := o || string_to_array(x, '/');
      else
        o := o || x;
      end if;
      i := i + 1;
    end loop;
    seg[k] := array_to_string(o, ' ');
  end loop;
  seg := array_remove(seg, '');
  n := cardinality(seg);
  if n = 0 then return; end if;
  if flat is null and n > 1 and seg[1] !~ ' ' and is_flat_id(seg[1]) and is_house_number(split_part(seg[2], ' ', 1)) then
    flat := trim_zeros(seg[1]);
    seg := seg[2:];
    n := n - 1;
  end if;
  -- The first numbered part.
  for k in 1..n loop
    w := words(seg[k]);
    i := 1;
    if w[1] = 'no' and cardinality(w) > 1 and is_house_number(w[2]) then i := 2; end if;
    if is_house_number(w[i]) then
      num := trim_zeros(w[i]);
      if cardinality(w) > i + 2 and w[i + 1] ~ '^[a-z]$' and num ~ '[0-9]$' then
        num := num || w[i + 1];
      end if;
      return;
    end if;
  end loop;
  -- A house name: the part before the street, or the only part.
  st := 0;
  for k in 1..n loop
    w := words(seg[k]);
    if is_street_type(w[cardinality(w)]) then st := k; exit; end if;
  end loop;
  if st > 0 and st < n and is_street_type((words(seg[st + 1]))[cardinality(words(seg[st + 1]))]) then
    num := house_name(seg[st]);
  elsif st > 1 then
    num := house_name(seg[st - 1]);
  elsif st = 0 then
    num := house_name(seg[1]);
  end if;
end $$;

-- Soundex of a folded name, null for none. PostgreSQL's soundex codes h
-- and w like vowels (Ashcraft → A226), derive.Soundex follows the
-- National Archives rule (A261): the same work, slightly different codes.
create function sdx(s text) returns text immutable parallel safe language sql as $$
  select nullif(soundex(s), '')
$$;

-- Canonical encoding of a key's fields (docs/tokens.md): the field count
-- and each field's length as 4-byte big-endian integers, each field's
-- UTF-8 bytes. A null or empty field gives null: no key has an empty field.
create function fld(s text) returns bytea stable parallel safe language sql as $$
  select int4send(octet_length(nullif(s, ''))) || convert_to(s, 'UTF8')
$$;
create function c1(a text) returns bytea stable parallel safe language sql as $$
  select '\x00000001'::bytea || fld(a) $$;
create function c2(a text, b text) returns bytea stable parallel safe language sql as $$
  select '\x00000002'::bytea || fld(a) || fld(b) $$;
create function c3(a text, b text, c text) returns bytea stable parallel safe language sql as $$
  select '\x00000003'::bytea || fld(a) || fld(b) || fld(c) $$;
create function c4(a text, b text, c text, d text) returns bytea stable parallel safe language sql as $$
  select '\x00000004'::bytea || fld(a) || fld(b) || fld(c) || fld(d) $$;
create function c5(a text, b text, c text, d text, e text) returns bytea stable parallel safe language sql as $$
  select '\x00000005'::bytea || fld(a) || fld(b) || fld(c) || fld(d) || fld(e) $$;

-- HKDF-SHA256 with one output block (RFC 5869): extract, then expand.
create function hkdf(ikm bytea, salt bytea, info text) returns bytea stable parallel safe language sql as $$
  select hmac(convert_to(info, 'UTF8') || '\x01'::bytea, hmac(ikm, salt, 'sha256'), 'sha256')
$$;
