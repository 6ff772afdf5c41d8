import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../common/errors.js';
import { parseFilters } from '../../../common/filters.js';

describe('parseFilters', () => {
  it('groups the values of each key, in order', () => {
    const filters = parseFilters(['name=web', 'label=a=b', 'name=db'], ['name', 'label']);
    expect([...filters]).toEqual([['name', ['web', 'db']], ['label', ['a=b']]]);
  });

  it('refuses a filter without key=value, and a key it does not know, with docker\'s words', () => {
    expect(() => parseFilters(['web'], ['name'])).toThrow('Bad format of filter "web"');
    expect(() => parseFilters(['=web'], ['name'])).toThrow('Bad format of filter "=web"');
    const err = (() => {
      try {
        parseFilters(['colour=red'], ['name', 'id']);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(UsageError);
    expect(err).toMatchObject({ message: 'Invalid filter "colour"', hint: 'Filter by name, id' });
  });
});
