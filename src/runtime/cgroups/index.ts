// cgroups v1, v2 and hybrid hosts, the public face: the host's layout
// (host.ts), resources as a plan of writes (plan.ts with v1.ts and v2.ts),
// carrying it out (apply.ts), the freezer and the stats.
export { detectHost, containerCgroupPath, cgroupJoin, blockWeightSupported, oomKillDisableSupported, v1KnobSupported, type CgroupHost, type CgroupJoin, type Hierarchy } from './host.js';
export { planCgroup, deviceRules, type CgroupPlan, type CgroupWrite } from './plan.js';
export { applyCgroup, updateCgroup, cgroupPids, destroyCgroup } from './apply.js';
export { freezerDir, isFrozen, setFrozen } from './freezer.js';
export { readOomKills, readStats, type CgroupStats } from './stats.js';
