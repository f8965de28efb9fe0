/**
 * Request bytes and path templates: what goes on the wire, built once.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isLabError } from '../../src/errors.js';
import { resolveLoadPlan } from '../../src/load/plan.js';
import { countTemplateExpansions, createRequestSource, parseTemplate } from '../../src/load/request-bytes.js';

describe('request bytes', () => {
  it('a plain URL is one pre-built request: GET, Host with port, no Connection header', () => {
    const source = createRequestSource(resolveLoadPlan({ url: 'http://127.0.0.1:3000/age?birthdate=1993-05-01' }));
    assert.equal(source.prebuilt.length, 1);
    assert.equal(source.next().toString('latin1'), 'GET /age?birthdate=1993-05-01 HTTP/1.1\r\nHost: 127.0.0.1:3000\r\nUser-Agent: socketlab-load\r\n\r\n');
    assert.equal(source.next(), source.next(), 'the same Buffer every time');
  });

  it('--close-by server says Connection: close; headers and a body are added once', () => {
    const plan = resolveLoadPlan({ url: 'http://localhost/x', keepAlive: false, closeBy: 'server', method: 'post', headers: { 'X-Test': '1' }, body: 'hi' });
    const text = createRequestSource(plan).next().toString('latin1');
    assert.equal(text, 'POST /x HTTP/1.1\r\nHost: localhost\r\nUser-Agent: socketlab-load\r\nX-Test: 1\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi');
  });

  it('a small template is expanded up front into every distinct request', () => {
    const source = createRequestSource(resolveLoadPlan({ url: 'http://127.0.0.1:1/', pathTemplate: '/uuid/{1..1000}' }));
    assert.equal(source.prebuilt.length, 1000);
    const seen = new Set<string>();
    for (let i = 0; i < 5000; i++) {
      const match = /^GET \/uuid\/(\d+) /.exec(source.next().toString('latin1'));
      assert.ok(match);
      const id = Number(match[1]);
      assert.ok(id >= 1 && id <= 1000);
      seen.add(match[1] as string);
    }
    assert.ok(seen.size > 900);
  });

  it('a large template is formatted per request instead', () => {
    const parts = parseTemplate('/a/{1..100000}/b/{0..9}');
    assert.equal(countTemplateExpansions(parts), Infinity);
    const source = createRequestSource(resolveLoadPlan({ url: 'http://127.0.0.1:1/', pathTemplate: '/a/{1..100000}/b/{0..9}' }));
    assert.equal(source.prebuilt.length, 0);
    assert.match(source.next().toString('latin1'), /^GET \/a\/\d+\/b\/\d HTTP\/1\.1\r\n/);
  });

  for (const bad of ['/a/{9..1}', '/a/{x}', 'no-slash', '/a b']) {
    it(`rejects the template ${JSON.stringify(bad)}`, () => {
      assert.throws(
        () => parseTemplate(bad),
        (error: unknown) => isLabError(error) && error.exitCode === 2,
      );
    });
  }
});
