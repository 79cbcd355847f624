import { describe, expect, it } from 'vitest';
import {
  MAX_DELAY_MS,
  delayFromMinutes,
  delayText,
  isHttpUrl,
  ruleSentence,
  serverErrors,
  validateContactMethod,
} from './notify';
import { badInput, gqlError } from '../test/mockClient';

const rule = (kind: 'EMAIL' | 'SLACK' | 'WEBHOOK', name: string, delayMs: number) => ({ delayMs, contactMethod: { kind, name } });

describe('rule sentences', () => {
  it('reads as kind, name and delay', () => {
    expect(ruleSentence(rule('EMAIL', 'Work', 0))).toBe('Email “Work” at once');
    expect(ruleSentence(rule('SLACK', 'Team', 120_000))).toBe('Slack “Team” after 2 minutes');
    expect(ruleSentence(rule('WEBHOOK', 'Pager bridge', 60_000))).toBe('Webhook “Pager bridge” after 1 minute');
  });

  it('says hours and days in words', () => {
    expect(delayText(90 * 60_000)).toBe('after 1 hour 30 minutes');
    expect(delayText(2 * 3_600_000)).toBe('after 2 hours');
    expect(delayText(MAX_DELAY_MS)).toBe('after 1 day');
    expect(delayText(30_000)).toBe('after 30 seconds');
  });
});

describe('delay in minutes → delayMs', () => {
  it('converts whole minutes; 0 is at once', () => {
    expect(delayFromMinutes('0')).toEqual({ delayMs: 0 });
    expect(delayFromMinutes(' 2 ')).toEqual({ delayMs: 120_000 });
    expect(delayFromMinutes('1440')).toEqual({ delayMs: MAX_DELAY_MS });
  });

  it('refuses more than a day, negatives, fractions and nothing', () => {
    expect(delayFromMinutes('1441')).toEqual({ error: 'At most 1 day (1440 minutes).' });
    expect(delayFromMinutes('-1')).toHaveProperty('error');
    expect(delayFromMinutes('1.5')).toHaveProperty('error');
    expect(delayFromMinutes('')).toHaveProperty('error');
    expect(delayFromMinutes('abc')).toHaveProperty('error');
  });
});

describe('contact method checks', () => {
  it('wants an email address for EMAIL and an http(s) URL without credentials otherwise', () => {
    expect(validateContactMethod({ kind: 'EMAIL', name: 'Work', target: 'a@example.com' })).toEqual({});
    expect(validateContactMethod({ kind: 'EMAIL', name: 'Work', target: 'nope' })).toHaveProperty('target');
    expect(validateContactMethod({ kind: 'SLACK', name: 'Team', target: 'https://hooks.slack.com/services/T/B/x' })).toEqual({});
    expect(validateContactMethod({ kind: 'WEBHOOK', name: 'Bridge', target: 'http://127.0.0.1:9/hook' })).toEqual({});
    expect(validateContactMethod({ kind: 'WEBHOOK', name: 'Bridge', target: 'ftp://example.com' })).toHaveProperty('target');
    expect(validateContactMethod({ kind: 'SLACK', name: '', target: '' })).toEqual({
      name: expect.any(String),
      target: 'Enter a URL.',
    });
    expect(isHttpUrl('https://user:pw@example.com/')).toBe(false);
  });
});

describe('serverErrors', () => {
  it('keeps field errors for their field and says the code with the rest', () => {
    const s = serverErrors(badInput('target: not an http(s) URL', 'target'));
    expect(s.fields).toEqual({ target: 'Not an http(s) URL' });
    expect(s.general).toEqual([]);
    expect(serverErrors(gqlError('at most 20 rules per user', 'INVALID_STATE')).general).toEqual([
      'at most 20 rules per user (INVALID_STATE)',
    ]);
  });
});
