// OCI image-spec 1.1 and Docker schema2 documents, as berth uses them.

export const MediaType = {
  ociDescriptor: 'application/vnd.oci.descriptor.v1+json',
  ociLayoutHeader: 'application/vnd.oci.layout.header.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociLayerNondistGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const;

export const MANIFEST_TYPES: readonly string[] = [MediaType.ociManifest, MediaType.dockerManifest];
export const INDEX_TYPES: readonly string[] = [MediaType.ociIndex, MediaType.dockerManifestList];
export const CONFIG_TYPES: readonly string[] = [MediaType.ociConfig, MediaType.dockerConfig];

export type Compression = 'none' | 'gzip' | 'zstd';

/** How a layer's blob is compressed, or undefined when the media type is not a layer berth can unpack. */
export function layerCompression(mediaType: string): Compression | undefined {
  switch (mediaType) {
    case MediaType.ociLayer: case 'application/vnd.oci.image.layer.nondistributable.v1.tar': return 'none';
    case MediaType.ociLayerGzip: case MediaType.ociLayerNondistGzip: case MediaType.dockerLayerGzip: case MediaType.dockerForeignLayerGzip: return 'gzip';
    case MediaType.ociLayerZstd: case 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd': return 'zstd';
    default: return undefined;
  }
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  data?: string;
  artifactType?: string;
  platform?: Platform;
}

export interface Platform {
  architecture: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  variant?: string;
}

export interface Manifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface Index {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface ContainerConfig {
  User?: string;
  ExposedPorts?: Record<string, object>;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, object> | null;
  WorkingDir?: string;
  Labels?: Record<string, string> | null;
  StopSignal?: string;
  ArgsEscaped?: boolean;
  Healthcheck?: { Test?: string[]; Interval?: number; Timeout?: number; StartPeriod?: number; Retries?: number };
  OnBuild?: string[] | null;
  Shell?: string[];
}

export interface HistoryEntry {
  created?: string;
  author?: string;
  created_by?: string;
  comment?: string;
  empty_layer?: boolean;
}

export interface ImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
  config?: ContainerConfig;
  rootfs: { type: 'layers'; diff_ids: string[] };
  history?: HistoryEntry[];
}
