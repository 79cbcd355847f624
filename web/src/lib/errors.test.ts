import { describe, expect, it } from 'vitest';
import { CombinedError } from 'urql';
import { errorText, isEmail, normalizeField, splitErrors } from './errors';
import { badInput, gqlError } from '../test/mockClient';

describe('splitErrors', () => {
  it('puts BAD_USER_INPUT errors with a field next to that field', () => {
    const s = splitErrors(badInput('email is already taken', 'email'));
    expect(s.fields).toEqual({ email: 'email is already taken' });
    expect(s.general).toEqual([]);
  });
  it('drops the server’s "field: " prefix, since the message sits under the field', () => {
    expect(splitErrors(badInput('title: must not be empty', 'title')).fields).toEqual({ title: 'Must not be empty' });
    expect(splitErrors(badInput('rotation[0].endTime: must be after startTime', 'rotation[0].endTime')).fields).toEqual({
      'rotation[0].endTime': 'Must be after startTime',
    });
  });

  it('keeps errors without a field for the form', () => {
    const s = splitErrors(gqlError('incident is resolved', 'INVALID_STATE'));
    expect(s.general).toEqual(['incident is resolved']);
  });
  it('explains network failures in words', () => {
    const s = splitErrors(new CombinedError({ networkError: new Error('Failed to fetch') }));
    expect(s.general[0]).toMatch(/Could not reach the Klaxon server/);
  });
  it('normalizes field paths', () => {
    expect(normalizeField('input.rotation.0.endTime')).toBe('rotation[0].endTime');
    expect(normalizeField('rotation[0].endTime')).toBe('rotation[0].endTime');
    expect(normalizeField('input.title')).toBe('title');
  });
  it('joins everything into a sentence for actions', () => {
    expect(errorText(undefined)).toBeNull();
    expect(errorText(badInput('too long', 'title'))).toBe('title: too long');
  });
});

describe('isEmail', () => {
  it('accepts addresses and rejects the rest', () => {
    expect(isEmail('a@b.io')).toBe(true);
    expect(isEmail('nope')).toBe(false);
    expect(isEmail('a@b')).toBe(false);
    expect(isEmail('a b@c.de')).toBe(false);
  });
});
