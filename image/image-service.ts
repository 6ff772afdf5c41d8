/**
 * Local image operations behind `images`, `tag`, `rmi`, `image inspect` and `image prune`:
 * finding an image by name, digest or ID prefix the way docker does, and removing names and
 * images with docker's rules.
 */
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../common/errors.js';
import type { Digest } from '../oci/index.js';
import type { ContentStore } from './content-store.js';
import { collectGarbage, type GarbageResult } from './garbage.js';
import type { ImageRecord, ImageRecords } from './image-records.js';
import { familiarString, parseReference, referenceString, repositoryName } from './reference.js';

/** One line of `rmi` output, as docker prints them. */
export type RemoveEvent = { readonly untagged: string } | { readonly deleted: Digest };

/** What `image prune` did. */
export interface PruneResult extends GarbageResult {
  readonly images: readonly Digest[];
  readonly events: readonly RemoveEvent[];
}

/** Local images of one store. */
export class ImageService {
  readonly #records: ImageRecords;
  readonly #store: ContentStore;
  readonly #inUse: () => ReadonlyMap<string, string>;

  /**
   * `inUse` gives, for each image id that containers use, one such container's id: those
   * images are neither removed nor pruned (their layers are the containers' lowers).
   */
  constructor(records: ImageRecords, store: ContentStore, inUse: () => ReadonlyMap<string, string> = () => new Map()) {
    this.#records = records;
    this.#store = store;
    this.#inUse = inUse;
  }

  /** Every image, newest first. */
  list(): ImageRecord[] {
    return this.#records.list();
  }

  /**
   * Finds an image by what a user typed: a name with optional tag or digest (`busybox`,
   * `busybox:1.36`, `x@sha256:…`), a full image ID (`sha256:…`) or a unique ID prefix.
   * Names are tried first, as docker's image lookup does.
   */
  find(input: string): ImageRecord {
    return this.#lookup(input).image;
  }

  #lookup(input: string): { image: ImageRecord; byName: boolean } {
    const byName = this.#findByName(input);
    if (byName !== undefined) return { image: byName, byName: true };
    const byId = this.#findById(input);
    if (byId !== undefined) return { image: byId, byName: false };
    throw new NotFoundError(`No such image: "${input}"`, { hint: `Pull it with "berth pull ${input}", or list local images with "berth images"` });
  }

  #findByName(input: string): ImageRecord | undefined {
    let ref;
    try {
      ref = parseReference(input);
    } catch (err) {
      if (err instanceof InvalidArgumentError) return undefined;
      throw err;
    }
    if (ref.digest === undefined) return this.#records.byTag(referenceString(ref));
    return this.#records.byRepoDigest(`${repositoryName(ref)}@${ref.digest}`) ?? this.#records.byId(ref.digest);
  }

  #findById(input: string): ImageRecord | undefined {
    const hex = input.startsWith('sha256:') ? input.slice(7) : input;
    if (!/^[0-9a-f]{1,64}$/.test(hex)) return undefined;
    const matches = this.#records.byIdPrefix(hex);
    if (matches.length > 1) {
      throw new InvalidArgumentError(`The image ID prefix "${input}" is ambiguous: ${matches.length} images match`, {
        hint: 'Give more characters of the ID',
      });
    }
    return matches[0];
  }

  /** Gives the image `source` the additional name `target` (docker tag). */
  tag(source: string, target: string): void {
    const image = this.find(source);
    const ref = parseReference(target);
    if (ref.digest !== undefined) {
      throw new InvalidArgumentError(`Cannot tag "${source}" as "${target}": a tag cannot contain a digest`, { hint: 'Give a name with a tag, such as "app:1.0"' });
    }
    this.#records.tag(referenceString(ref), image.id);
  }

  /**
   * Removes an image name or an image (docker rmi): a name with a tag removes that tag, and
   * the image with it when that was its last tag; an ID removes the image with all its
   * names, but refuses (unless `force`) when the image is tagged in several repositories.
   */
  async remove(input: string, options: { force: boolean }): Promise<RemoveEvent[]> {
    const { image, byName } = this.#lookup(input);
    const events: RemoveEvent[] = [];
    const user = this.#inUse().get(image.id);
    // docker: the last name of an image a container uses, or the image by ID, only with -f,
    // and then only its names go: the image stays for the container.
    const lastName = image.tags.length <= 1;
    if (user !== undefined && !options.force && (!byName || lastName)) {
      throw new FailedPreconditionError(
        `conflict: unable to remove ${byName ? 'repository reference' : 'image'} "${input}" (must be forced) - container ${user.slice(0, 12)} is using its referenced image ${image.id.slice(7, 19)}`,
        { hint: `Remove the container first ("berth rm ${user.slice(0, 12)}"), or untag with "berth rmi -f ${input}"` },
      );
    }
    if (byName) {
      const ref = parseReference(input);
      const name = ref.digest !== undefined ? `${repositoryName(ref)}@${ref.digest}` : referenceString(ref);
      const removed = ref.digest !== undefined ? this.#records.removeRepoDigest(name) : this.#records.untag(name);
      if (removed) events.push({ untagged: familiarString(parseReference(name)) });
      const left = this.#records.byId(image.id);
      if (left !== undefined && left.tags.length > 0) return events;
    } else {
      const repos = new Set(image.tags.map((t) => repositoryName(parseReference(t))));
      if (repos.size > 1 && !options.force) {
        throw new FailedPreconditionError(`Cannot remove image "${input}": it is referenced in ${repos.size} repositories`, {
          hint: `Remove its tags one by one with "berth rmi NAME:TAG", or force with "berth rmi -f ${input}"`,
        });
      }
    }
    const current = this.#records.byId(image.id);
    if (current === undefined) return events;
    if (user !== undefined) {
      for (const name of current.tags) {
        this.#records.untag(name);
        events.push({ untagged: familiarString(parseReference(name)) });
      }
      return events;
    }
    for (const name of [...current.tags, ...current.repoDigests]) events.push({ untagged: familiarString(parseReference(name)) });
    this.#records.delete(image.id);
    events.push({ deleted: image.id });
    await collectGarbage(this.#store, this.#records);
    return events;
  }

  /** Removes dangling images (no tags), or every image with `all`, then unreferenced content. */
  async prune(options: { all: boolean }): Promise<PruneResult> {
    const used = this.#inUse();
    const doomed = this.#records.list().filter((i) => (options.all || i.tags.length === 0) && !used.has(i.id));
    const events: RemoveEvent[] = [];
    for (const image of doomed) {
      for (const name of [...image.tags, ...image.repoDigests]) events.push({ untagged: familiarString(parseReference(name)) });
      this.#records.delete(image.id);
      events.push({ deleted: image.id });
    }
    const garbage = await collectGarbage(this.#store, this.#records);
    return { ...garbage, images: doomed.map((i) => i.id), events };
  }
}
