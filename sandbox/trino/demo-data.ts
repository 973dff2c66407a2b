/**
 * The sandbox Trino's demo tables: TPC-H's nation and region (tpch.tiny and tpch.sf1, identical as
 * dbgen writes them at every scale factor) and a small invented sales table (hive.sales.orders).
 * Each column has its Trino type (what SHOW COLUMNS and DESCRIBE answer) and the DuckDB type the SQL
 * engine stores it as.
 */

export interface DemoColumn {
  name: string;
  /** Trino's type name, e.g. varchar(25). */
  trinoType: string;
  /** The DuckDB column type the engine creates. */
  duckdbType: string;
}

export interface DemoTable {
  catalog: string;
  schema: string;
  table: string;
  columns: DemoColumn[];
  rows: readonly unknown[][];
}

// TPC-H nation and region, as dbgen writes them (identical at every scale factor).
export const NATIONS: Array<[number, string, number, string]> = [
  [0, 'ALGERIA', 0, ' haggle. carefully final deposits detect slyly agai'],
  [1, 'ARGENTINA', 1, 'al foxes promise slyly according to the regular accounts. bold requests alon'],
  [2, 'BRAZIL', 1, 'y alongside of the pending deposits. carefully special packages are about the ironic forges. slyly special '],
  [3, 'CANADA', 1, 'eas hang ironic, silent packages. slyly regular packages are furiously over the tithes. fluffily bold'],
  [4, 'EGYPT', 4, 'y above the carefully unusual theodolites. final dugouts are quickly across the furiously regular d'],
  [5, 'ETHIOPIA', 0, 'ven packages wake quickly. regu'],
  [6, 'FRANCE', 3, 'refully final requests. regular, ironi'],
  [7, 'GERMANY', 3, 'l platelets. regular accounts x-ray: unusual, regular acco'],
  [8, 'INDIA', 2, 'ss excuses cajole slyly across the packages. deposits print aroun'],
  [9, 'INDONESIA', 2, ' slyly express asymptotes. regular deposits haggle slyly. carefully ironic hockey players sleep blithely. carefull'],
  [10, 'IRAN', 4, 'efully alongside of the slyly final dependencies. '],
  [11, 'IRAQ', 4, 'nic deposits boost atop the quickly final requests? quickly regula'],
  [12, 'JAPAN', 2, 'ously. final, express gifts cajole a'],
  [13, 'JORDAN', 4, 'ic deposits are blithely about the carefully regular pa'],
  [14, 'KENYA', 0, ' pending excuses haggle furiously deposits. pending, express pinto beans wake fluffily past t'],
  [15, 'MOROCCO', 0, 'rns. blithely bold courts among the closely regular packages use furiously bold platelets?'],
  [16, 'MOZAMBIQUE', 0, 's. ironic, unusual asymptotes wake blithely r'],
  [17, 'PERU', 1, 'platelets. blithely pending dependencies use fluffily across the even pinto beans. carefully silent accoun'],
  [18, 'CHINA', 2, 'c dependencies. furiously express notornis sleep slyly regular accounts. ideas sleep. depos'],
  [19, 'ROMANIA', 3, 'ular asymptotes are about the furious multipliers. express dependencies nag above the ironically ironic account'],
  [20, 'SAUDI ARABIA', 4, 'ts. silent requests haggle. closely express packages sleep across the blithely'],
  [21, 'VIETNAM', 2, 'hely enticingly express accounts. even, final '],
  [22, 'RUSSIA', 3, ' requests against the platelets use never according to the quickly regular pint'],
  [23, 'UNITED KINGDOM', 3, 'eans boost carefully special requests. accounts are. carefull'],
  [24, 'UNITED STATES', 1, 'y final packages. slow foxes cajole quickly. quickly silent platelets breach ironic accounts. unusual pinto be'],
];

export const REGIONS: Array<[number, string, string]> = [
  [0, 'AFRICA', 'lar deposits. blithely final packages cajole. regular waters are final requests. regular accounts are according to '],
  [1, 'AMERICA', 'hs use ironic, even requests. s'],
  [2, 'ASIA', 'ges. thinly even pinto beans ca'],
  [3, 'EUROPE', 'ly final courts cajole furiously final excuse'],
  [4, 'MIDDLE EAST', 'uickly special accounts cajole carefully blithely close requests. carefully final asymptotes haggle furiousl'],
];

// Small invented sales data set.
export const ORDERS: unknown[][] = [
  [1001, 'Acme Corp', 'EUROPE', '2025-01-03', 'SHIPPED', 1250.5],
  [1002, 'Globex', 'AMERICA', '2025-01-04', 'SHIPPED', 310.0],
  [1003, 'Initech', 'AMERICA', '2025-01-09', 'CANCELLED', 99.99],
  [1004, 'Umbrella', 'ASIA', '2025-01-12', 'OPEN', 4820.75],
  [1005, 'Stark Industries', 'AMERICA', '2025-01-15', 'SHIPPED', 15000.0],
  [1006, 'Wayne Enterprises', 'AMERICA', '2025-01-17', 'OPEN', 780.2],
  [1007, 'Tyrell', 'ASIA', '2025-01-21', 'SHIPPED', 2300.0],
  [1008, 'Soylent', 'EUROPE', '2025-01-22', 'RETURNED', 45.1],
  [1009, 'Cyberdyne', 'AMERICA', '2025-01-28', 'SHIPPED', 9999.0],
  [1010, 'Hooli', 'AFRICA', '2025-02-02', 'OPEN', 640.0],
];

const NATION_COLUMNS: DemoColumn[] = [
  { name: 'nationkey', trinoType: 'bigint', duckdbType: 'BIGINT' },
  { name: 'name', trinoType: 'varchar(25)', duckdbType: 'VARCHAR' },
  { name: 'regionkey', trinoType: 'bigint', duckdbType: 'BIGINT' },
  { name: 'comment', trinoType: 'varchar(152)', duckdbType: 'VARCHAR' },
];
const REGION_COLUMNS: DemoColumn[] = [
  { name: 'regionkey', trinoType: 'bigint', duckdbType: 'BIGINT' },
  { name: 'name', trinoType: 'varchar(25)', duckdbType: 'VARCHAR' },
  { name: 'comment', trinoType: 'varchar(152)', duckdbType: 'VARCHAR' },
];
const ORDER_COLUMNS: DemoColumn[] = [
  { name: 'order_id', trinoType: 'bigint', duckdbType: 'BIGINT' },
  { name: 'customer', trinoType: 'varchar', duckdbType: 'VARCHAR' },
  { name: 'region', trinoType: 'varchar', duckdbType: 'VARCHAR' },
  { name: 'order_date', trinoType: 'date', duckdbType: 'DATE' },
  { name: 'status', trinoType: 'varchar', duckdbType: 'VARCHAR' },
  { name: 'total_price', trinoType: 'double', duckdbType: 'DOUBLE' },
];

/** Every demo table the SQL engine holds, by catalog and schema. */
export const DEMO_TABLES: readonly DemoTable[] = [
  ...['tiny', 'sf1'].flatMap((schema) => [
    { catalog: 'tpch', schema, table: 'nation', columns: NATION_COLUMNS, rows: NATIONS },
    { catalog: 'tpch', schema, table: 'region', columns: REGION_COLUMNS, rows: REGIONS },
  ]),
  { catalog: 'hive', schema: 'sales', table: 'orders', columns: ORDER_COLUMNS, rows: ORDERS },
];

/** The catalogs whose tables the SQL engine holds (the others are the emulator's own: system, sandbox). */
export const ENGINE_CATALOGS: readonly string[] = [...new Set(DEMO_TABLES.map((t) => t.catalog))];
