export const VERSION = '0.1.0';
/** The newest Docker Engine API version berthd serves, and the berth CLI speaks. */
export const API_VERSION = '1.47';
