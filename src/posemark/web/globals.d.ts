// Type declarations only (read by `tsc`, see tsconfig.json; never served): what the
// pages hang on `window` for the browser tests (tests/browser) to drive.

interface Window {
  /** The running app (app.js). */
  posemarkApp?: object;
  /** The editor's coordinate and state bridge (pages/editor.js, exposeForTests). */
  posemarkEditor?: {
    imageToClient(x: number, y: number): { x: number; y: number };
    clientToImage(x: number, y: number): { x: number; y: number };
    setZoom(scale: number, x?: number, y?: number): void;
    readonly zoom: number;
    readonly document: unknown;
    readonly selection: unknown;
    readonly saveState: string;
    readonly version: number;
    flush(): unknown;
  };
}
