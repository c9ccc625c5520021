/**
 * A Lua function for scripts that read many keys: `mgetAll(list, n)` answers the values of
 * list[1..n] in order (false for a missing key), in MGETs of 256 keys — `unpack` of a whole long
 * list would overflow Lua's C stack.
 */
export const MGET_ALL_LUA = `local function mgetAll(list, n)
  local values = {}
  for i = 1, n, 256 do
    local part = redis.call('MGET', unpack(list, i, math.min(i + 255, n)))
    for j = 1, #part do values[i + j - 1] = part[j] end
  end
  return values
end
`;
