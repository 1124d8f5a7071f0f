/** JSON ↔ google.protobuf.Struct / Value, as proto-loader (keepCase) represents them. */
export type ProtoValue =
  | { null_value: 'NULL_VALUE' }
  | { number_value: number }
  | { string_value: string }
  | { bool_value: boolean }
  | { struct_value: ProtoStruct }
  | { list_value: { values: ProtoValue[] } };
export interface ProtoStruct {
  fields: Record<string, ProtoValue>;
}

export function toValue(v: unknown): ProtoValue {
  if (v === null || v === undefined) return { null_value: 'NULL_VALUE' };
  if (typeof v === 'number') return { number_value: v };
  if (typeof v === 'bigint') return { string_value: v.toString() };
  if (typeof v === 'string') return { string_value: v };
  if (typeof v === 'boolean') return { bool_value: v };
  if (Array.isArray(v)) return { list_value: { values: v.map(toValue) } };
  if (v instanceof Date) return { string_value: v.toISOString() };
  return { struct_value: toStruct(v as Record<string, unknown>) };
}

export function toStruct(obj: Record<string, unknown> | null | undefined): ProtoStruct {
  const fields: Record<string, ProtoValue> = {};
  for (const [k, v] of Object.entries(obj ?? {})) if (v !== undefined) fields[k] = toValue(v);
  return { fields };
}

export function fromValue(v: ProtoValue | undefined): unknown {
  if (!v) return null;
  if ('number_value' in v) return v.number_value;
  if ('string_value' in v) return v.string_value;
  if ('bool_value' in v) return v.bool_value;
  if ('struct_value' in v) return fromStruct(v.struct_value);
  if ('list_value' in v) return (v.list_value.values ?? []).map(fromValue);
  return null;
}

export function fromStruct(s: ProtoStruct | undefined | null): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s?.fields ?? {})) out[k] = fromValue(v);
  return out;
}
