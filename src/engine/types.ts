// The docker-shaped records the engine keeps and the API serves (Engine API
// ContainerConfig, HostConfig, ContainerState), limited to what berth reads.

export interface HealthConfig { Test?: string[]; Interval?: number; Timeout?: number; Retries?: number; StartPeriod?: number; StartInterval?: number }

export interface ContainerConfig {
  Hostname: string;
  Domainname?: string;
  User?: string;
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  Tty?: boolean;
  OpenStdin?: boolean;
  StdinOnce?: boolean;
  Env?: string[];
  Cmd?: string[] | null;
  Entrypoint?: string[] | null;
  Image: string;
  Labels?: Record<string, string>;
  WorkingDir?: string;
  StopSignal?: string;
  StopTimeout?: number;
  Healthcheck?: HealthConfig;
  Volumes?: Record<string, object> | null;
  ExposedPorts?: Record<string, object> | null;
  MacAddress?: string;
  /** no network but loopback (NetworkMode none unless one was given) */
  NetworkDisabled?: boolean;
}

export interface MountSpec {
  Type: 'bind' | 'volume' | 'tmpfs';
  Source?: string;
  Target: string;
  ReadOnly?: boolean;
  BindOptions?: { Propagation?: string; CreateMountpoint?: boolean };
  /** Subpath (API 1.45): a directory or file inside the volume is mounted, not the whole volume */
  VolumeOptions?: { NoCopy?: boolean; Labels?: Record<string, string>; Subpath?: string };
  TmpfsOptions?: { SizeBytes?: number; Mode?: number };
}

export interface HostConfig {
  Binds?: string[] | null;
  Mounts?: MountSpec[] | null;
  Tmpfs?: Record<string, string> | null;
  VolumesFrom?: string[] | null;
  NetworkMode?: string;
  /** docker's legacy links ("name:alias"): checked as docker checks them; with no bridge they add nothing, as docker's do without one */
  Links?: string[] | null;
  RestartPolicy?: { Name: '' | 'no' | 'always' | 'unless-stopped' | 'on-failure'; MaximumRetryCount?: number };
  AutoRemove?: boolean;
  LogConfig?: { Type: string; Config?: Record<string, string> };
  Memory?: number;
  MemorySwap?: number;
  MemoryReservation?: number;
  NanoCpus?: number;
  CpuShares?: number;
  CpuQuota?: number;
  CpuPeriod?: number;
  CpusetCpus?: string;
  CpusetMems?: string;
  BlkioWeight?: number;
  PidsLimit?: number | null;
  Ulimits?: { Name: string; Soft: number; Hard: number }[] | null;
  CapAdd?: string[] | null;
  CapDrop?: string[] | null;
  Privileged?: boolean;
  ReadonlyRootfs?: boolean;
  SecurityOpt?: string[] | null;
  Devices?: { PathOnHost: string; PathInContainer?: string; CgroupPermissions?: string }[] | null;
  Sysctls?: Record<string, string> | null;
  ShmSize?: number;
  Init?: boolean | null;
  OomScoreAdj?: number;
  PortBindings?: Record<string, unknown> | null;
  PublishAllPorts?: boolean;
  OomKillDisable?: boolean;
  Dns?: string[] | null;
  DnsSearch?: string[] | null;
  DnsOptions?: string[] | null;
  ExtraHosts?: string[] | null;
  GroupAdd?: string[] | null;
  IpcMode?: string;
  PidMode?: string;
  UTSMode?: string;
  CgroupnsMode?: string;
  /** "c 1:3 mr": device cgroup rules added to the default ones */
  DeviceCgroupRules?: string[] | null;
  /** 0-100; -1 or absent: the kernel's */
  MemorySwappiness?: number | null;
  CpuRealtimePeriod?: number;
  CpuRealtimeRuntime?: number;
  VolumeDriver?: string;
  Runtime?: string;
  /** the container's cgroup goes under this one instead of berthd's */
  CgroupParent?: string;
  /** "host" only: berth makes no user namespaces */
  UsernsMode?: string;
  /** replace the default masked and read-only paths */
  MaskedPaths?: string[] | null;
  ReadonlyPaths?: string[] | null;
  /** OCI annotations of the container's config */
  Annotations?: Record<string, string> | null;
  KernelMemory?: number;
  KernelMemoryTCP?: number;
  DeviceRequests?: unknown[] | null;
}

export type Status = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

export interface HealthState { Status: 'starting' | 'healthy' | 'unhealthy'; FailingStreak: number; Log: { Start: string; End: string; ExitCode: number; Output: string }[] }

export interface ContainerState {
  Status: Status;
  Running: boolean;
  Paused: boolean;
  Restarting: boolean;
  OOMKilled: boolean;
  Dead: boolean;
  Pid: number;
  ExitCode: number;
  Error: string;
  StartedAt: string;
  FinishedAt: string;
  Health?: HealthState;
}

export interface MountPoint {
  Type: 'bind' | 'volume' | 'tmpfs';
  Name?: string;
  Source: string;
  Destination: string;
  Driver?: string;
  Mode: string;
  RW: boolean;
  Propagation: string;
}

export const ZERO_TIME = '0001-01-01T00:00:00Z';
