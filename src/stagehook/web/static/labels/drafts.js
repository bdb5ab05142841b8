// Unsaved edits live in localStorage until the server has them, so a reload, a crash or
// a closed tab loses nothing. One entry per label row: {version, state}.
const PREFIX = "stagehook:draft:";

export class Drafts {
  constructor(labelHash) {
    this.key = PREFIX + labelHash;
  }

  read() {
    try {
      const raw = localStorage.getItem(this.key);
      return raw ? JSON.parse(raw) : null;
    } catch {
      return null;
    }
  }

  write(version, state) {
    try {
      localStorage.setItem(this.key, JSON.stringify({ version, state, at: Date.now() }));
    } catch {
      // storage full or disabled: autosave still runs; only the reload safety net is lost
    }
  }

  clear() {
    localStorage.removeItem(this.key);
  }
}
