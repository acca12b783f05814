/**
 * Shows untrusted email HTML: only inside a sandboxed frame with no script
 * permission, never as markup of the page itself.
 */
export function EmailFrame({ html, title, height = 320, testId }: { html: string; title: string; height?: number; testId?: string }) {
  return (
    <iframe
      className="email-frame"
      title={title}
      sandbox=""
      srcDoc={html}
      style={{ height }}
      data-testid={testId}
      referrerPolicy="no-referrer"
    />
  );
}
