import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { ApiError } from '../errors.js';

/** Sends a problem document. */
export function sendProblem(reply: FastifyReply, err: ApiError, instance?: string): FastifyReply {
  if (err.code === 'rate_limited' && !reply.hasHeader('retry-after')) reply.header('retry-after', '1');
  // Every 401 says how to authenticate (RFC 9110 §11.6.1); the auth hook may have set a more precise challenge.
  if (err.status === 401 && !reply.hasHeader('www-authenticate')) reply.header('www-authenticate', 'Bearer');
  return reply.code(err.status).type('application/problem+json').send(err.toProblem(instance));
}

/**
 * Answers every error as a problem document: ApiErrors as they are, Fastify's own client errors
 * with their code, and anything else as a logged `internal_error` that reveals nothing.
 */
export function setProblemErrorHandler(app: FastifyInstance, bodyLimit: number): void {
  app.setErrorHandler((err, req, reply) => {
    if (err instanceof ApiError) return sendProblem(reply, err, req.url.split('?')[0]);
    const e = err as { code?: string; statusCode?: number; message: string };
    const map: Record<string, ApiError> = {
      FST_ERR_CTP_BODY_TOO_LARGE: new ApiError('payload_too_large', `The body exceeds ${bodyLimit} bytes.`),
      FST_ERR_CTP_INVALID_MEDIA_TYPE: new ApiError('unsupported_media_type', 'Send JSON with Content-Type: application/json.'),
      FST_ERR_CTP_EMPTY_JSON_BODY: new ApiError('bad_request', 'The JSON body is empty.'),
      FST_ERR_CTP_INVALID_CONTENT_LENGTH: new ApiError('bad_request', 'Content-Length does not match the body.'),
      FST_ERR_CTP_INVALID_JSON_BODY: new ApiError('bad_request', 'The body is not valid JSON.'),
    };
    const mapped = e.code ? map[e.code] : undefined;
    if (mapped) return sendProblem(reply, mapped, req.url.split('?')[0]);
    if (e.statusCode === 413) return sendProblem(reply, map.FST_ERR_CTP_BODY_TOO_LARGE as ApiError);
    if (e.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500) {
      // JSON syntax errors and other client errors raised by Fastify itself.
      const code = e.statusCode === 415 ? 'unsupported_media_type' : e.statusCode === 404 ? 'not_found' : 'bad_request';
      return sendProblem(reply, new ApiError(code, e.message.slice(0, 300), {}, code === 'bad_request' ? 400 : undefined));
    }
    req.log.error({ err }, 'unhandled error');
    return sendProblem(reply, new ApiError('internal_error', 'An internal error occurred; it has been logged.'));
  });
}

/** The problem for an error the router raises before any route runs (Fastify's `frameworkErrors`). */
export function frameworkProblem(err: unknown): ApiError {
  const e = err as { code?: string; message: string };
  if (e.code === 'FST_ERR_MAX_PARAM_LENGTH') return new ApiError('bad_request', 'A path parameter is longer than 200 characters.', {}, 414);
  return new ApiError('bad_request', `The request URL could not be read: ${e.message.slice(0, 200)}`);
}

/** The problem for a request Node's parser refused (Fastify's `clientErrorHandler`). */
export function clientErrorProblem(err: { code?: string }): ApiError {
  if (err.code === 'HPE_HEADER_OVERFLOW') {
    return new ApiError('headers_too_large', 'The request line and headers together exceed the size the server reads (16 KiB).');
  }
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return new ApiError('request_timeout', 'The request did not arrive in time.');
  return new ApiError('bad_request', 'The request is not valid HTTP/1.1 (request line, a header or Content-Length).');
}

/**
 * Answers a request Node could not parse with a problem document, then closes the connection
 * (no route ran, so there is no reply object; the socket is written to directly).
 */
export function clientErrorHandler(err: Error & { code?: string }, socket: Socket): void {
  // A reset connection has nobody left to answer.
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  if (socket.writable) {
    const problem = clientErrorProblem(err);
    const body = JSON.stringify(problem.toProblem());
    socket.write(
      `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status] ?? 'Error'}\r\n` +
        'Content-Type: application/problem+json\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        'X-Content-Type-Options: nosniff\r\n' +
        'Connection: close\r\n\r\n' +
        body,
    );
  }
  socket.destroy(err);
}
