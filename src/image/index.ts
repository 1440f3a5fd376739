// The image subsystem's public face: the content-addressed store and its
// snapshots, references, pull and push, archives (save, load, import,
// commit), what inspect shows, image events, and work inside untrusted
// trees by fd (confined/). Nothing outside src/image imports its inner files.
export { ImageStore, type ImageRecord } from './store.js';
export { mountAll, diskUsage, fileBytes, type Mount } from './snapshots.js';
export { familiarName, formatReference, parseReference, pulledName, pullTag, shortReference, type Reference } from './reference.js';
export { parsePlatform, pull, PROGRESS_WORDS, type ProgressEvent } from './pull.js';
export { distributionInspect, loginCheck, searchRegistry } from './distribution.js';
export { push } from './push.js';
export { commitImage, importRootfs, load, loadedLines, save } from './archive.js';
export { imageHistory, imageSize, imageSummary, inspectImage, layerChain, listImages } from './inspect.js';
export { IMAGE_ACTIONS, importedEvents, loadedEvents, prunedEvents, pulledEvents, pushedEvents, removedEvents, savedEvents, taggedEvents, type ImageEvent } from './events.js';
export { RegistryClient, RegistryError } from './registry/client.js';
export { getCredentials, saveCredentials } from './registry/credentials.js';
export { mountPointEntries } from './layer/diff.js';
export { RootDir, closeFd, copyInto, copyTree, fileChunks, packFd, packPath, syncInto, contentHashes, rememberHash, statKey, unpackInto, walk, withRootDir, type TarItem } from './confined/index.js';
export { deriveImage } from './archive.js';
